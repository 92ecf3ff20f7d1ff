"""The web form's anti-forgery token, and the check that a post comes from our own page.

A token is issued by the server with each page: a random form id, its expiry time and a
keyed MAC (HMAC-SHA256) of the session, the form id and the expiry. A post is accepted
only with a token that was issued to the same session and has not expired; the form id is
then the message id, so the engine applies it once (a resubmitted form is a replay, never
a second message). Cross-site posts are refused first by their Origin (or Referer).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

TOKEN_LIFETIME = timedelta(hours=12)
_TOKEN = re.compile(r"^([A-Za-z0-9_-]{22})\.(\d{1,12})\.([0-9a-f]{32})$")


class FormTokens:
    def __init__(self, key: bytes, *, lifetime: timedelta = TOKEN_LIFETIME) -> None:
        if len(key) < 16:
            raise ValueError("the form token key must be at least 16 bytes")
        self._key = key
        self.lifetime = lifetime

    def __repr__(self) -> str:
        return "FormTokens(<key>)"

    def issue(self, session: str, now: datetime) -> str:
        form_id = secrets.token_urlsafe(16)
        expires = int((now + self.lifetime).timestamp())
        return f"{form_id}.{expires}.{self._mac(session, form_id, expires)}"

    def verify(self, token: str, session: str, now: datetime) -> str | None:
        """The form id when the token is good for this session and still valid."""
        match = _TOKEN.match(token)
        if match is None:
            return None
        form_id, expires = match.group(1), int(match.group(2))
        if not hmac.compare_digest(match.group(3), self._mac(session, form_id, expires)):
            return None
        if now.timestamp() > expires:
            return None
        return form_id

    def _mac(self, session: str, form_id: str, expires: int) -> str:
        message = f"{session}\n{form_id}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]


def same_origin(origin: str | None, referer: str | None, scheme: str, host: str) -> bool:
    """Whether a post comes from a page of this site: its Origin, or failing that its
    Referer, must name our scheme and host. A request with neither (not a browser, or one
    that strips both) is let through: the session-bound token still protects it."""
    ours = f"{scheme}://{host}".lower()
    if origin is not None:
        return origin.strip().lower() == ours  # "null" (a sandboxed or opaque page) fails
    if referer:
        parts = urlsplit(referer.strip())
        return f"{parts.scheme}://{parts.netloc}".lower() == ours
    return True
