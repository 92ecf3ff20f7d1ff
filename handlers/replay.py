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
from storage.replies import KeptReplies

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
    """Keeps and finds the replies of applied messages, in the engine's transaction."""

    def __init__(self, cipher: ContactCipher, hours: float) -> None:
        self.cipher = cipher
        self.window = timedelta(hours=hours)
        self._purged_at: datetime | None = None

    async def keep(self, unit, channel: str, message_id: str, replies, now: datetime) -> None:
        kept = KeptReplies(unit.session)
        await kept.keep(channel, message_id, encode(replies, self.cipher))
        if self._purged_at is None or now - self._purged_at >= PURGE_EVERY:
            self._purged_at = now
            await kept.drop_before(now - self.window)

    async def find(self, unit, channel: str, message_id: str, now: datetime) -> tuple[Reply, ...]:
        kept = await KeptReplies(unit.session).find(channel, message_id, now - self.window)
        if not kept:
            return ()
        try:
            return decode(kept, self.cipher)
        except (ValueError, KeyError, TypeError):  # another secret, or an older shape
            return ()
