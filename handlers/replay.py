"""Answering a resent message the same way as the first time.

A webhook provider resends a message when our answer was lost. The message id was
already applied, so nothing changes in the store; but the person must still get the
replies. They are kept, encrypted with the contact key (they may quote the person's own
words), with the processed id for `limits.replay_hours` (24 h by default) and dropped
after that (storage/replies.py).

`encode` and `decode` are pure: text, choices and the quote are kept; an attachment (a
chart, an export) is not, since it is sent by a background job and never inside a webhook.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from handlers.privacy import ContactCipher
from handlers.types import Choice, Reply

PURGE_EVERY = timedelta(minutes=10)


def encode(replies: tuple[Reply, ...] | list[Reply], cipher: ContactCipher) -> str:
    data = [
        {
            "text": reply.text,
            "key": reply.key,
            "quote": reply.quote,
            "replaces_previous": reply.replaces_previous,
            "choices": [[c.label, c.payload, c.short] for c in reply.choices],
        }
        for reply in replies
    ]
    plain = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return cipher.encrypt(plain).decode("ascii")  # a Fernet token is URL-safe base64


def decode(kept: str, cipher: ContactCipher) -> tuple[Reply, ...]:
    """The replies kept; ValueError when they cannot be read (another secret)."""
    plain = cipher.decrypt(kept.encode("ascii"))
    if plain is None:
        raise ValueError("the kept replies were encrypted with another key")
    data = json.loads(plain)
    return tuple(
        Reply(
            item["text"],
            choices=tuple(
                Choice(label, payload, short) for label, payload, short in item["choices"]
            ),
            replaces_previous=item["replaces_previous"],
            key=item["key"],
            quote=item["quote"],
        )
        for item in data
    )


class ReplayKeeper:
    """Encodes the replies the batch writer keeps with each processed id, decodes what it
    finds for a resent one, and says when the old ones are due to be dropped."""

    def __init__(self, cipher: ContactCipher, hours: float) -> None:
        self.cipher = cipher
        self.window = timedelta(hours=hours)
        self._purged_at: datetime | None = None

    def encode(self, replies: tuple[Reply, ...] | list[Reply]) -> str:
        return encode(replies, self.cipher)

    def decode(self, kept: str | None) -> tuple[Reply, ...]:
        if not kept:
            return ()
        try:
            return decode(kept, self.cipher)
        except (ValueError, KeyError, TypeError):  # another secret, or an older shape
            return ()

    def since(self, now: datetime) -> datetime:
        """The oldest processed time whose replies are still given back."""
        return now - self.window

    def drop_before(self, now: datetime) -> datetime | None:
        """The cut-off before which kept replies are dropped in this batch, every
        PURGE_EVERY at most; None when it is not due."""
        if self._purged_at is not None and now - self._purged_at < PURGE_EVERY:
            return None
        self._purged_at = now
        return now - self.window
