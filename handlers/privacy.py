"""Privacy by construction: pseudonyms for people, encryption for the few addresses kept.

A participant is known only by a keyed HMAC of channel + platform id. The address of
someone who asked for follow-up messages (a phone number, a chat id) is the only raw
identifier Chorus keeps, and only encrypted, with a key derived from CHORUS_SECRET.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class Pseudonymizer:
    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("the secret must be at least 16 characters long")
        self._key = hashlib.sha256(b"chorus-pseudonym:" + secret.encode()).digest()

    def __repr__(self) -> str:
        return "Pseudonymizer(<secret>)"

    def pseudonym(self, channel: str, platform_id: str) -> str:
        message = f"{channel}:{platform_id}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


class ContactCipher:
    """Encrypts follow-up addresses at rest (Fernet: AES-128-CBC with HMAC-SHA256)."""

    def __init__(self, secret: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"chorus-contact-key"
        ).derive(secret.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def __repr__(self) -> str:
        return "ContactCipher(<secret>)"

    def encrypt(self, address: str) -> bytes:
        return self._fernet.encrypt(address.encode())

    def decrypt(self, token: bytes) -> str | None:
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken:
            return None
