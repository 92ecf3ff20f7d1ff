"""Messages whose handling raised: kept with the error so nothing is lost, and handled
again on request (`chorus failed`, `chorus retry`)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import Protocol

from handlers.privacy import ContactCipher
from handlers.types import Inbound, Outcome
from storage.database import Store
from storage.records import FailedRecord
from storage.unit import Unit


class Keeper(Protocol):
    """What keeping and listing failed messages needs (handlers.deps.Deps has it)."""

    @property
    def store(self) -> Store: ...
    @property
    def contacts(self) -> ContactCipher: ...
    @property
    def clock(self) -> Callable[[], datetime]: ...


class Retrier(Keeper, Protocol):
    """A Keeper that can handle a message again (the engine)."""

    def handle(self, inbound: Inbound) -> Awaitable[Outcome]: ...


# What a kept message holds about its sender: who they are, their words as written (before
# redaction, which may be what failed) and the provider's payload (names, chat ids).
SEALED_FIELDS = ("sender", "text", "payload", "raw")


def inbound_to_json(inbound: Inbound, contacts: ContactCipher | None = None) -> str:
    """The message as JSON; with `contacts`, everything personal in it (`SEALED_FIELDS`)
    is kept only encrypted, like a follow-up address, so the dead-letter table shows no
    one's words or ids to whoever reads the store."""
    data = asdict(inbound)
    data["received_at"] = inbound.received_at.isoformat()
    if contacts is not None:
        personal = {name: data.pop(name) for name in SEALED_FIELDS}
        data["sealed"] = contacts.encrypt(json.dumps(personal, ensure_ascii=False)).decode()
    return json.dumps(data, ensure_ascii=False)


def inbound_from_json(text: str, contacts: ContactCipher | None = None) -> Inbound:
    data = json.loads(text)
    data["received_at"] = datetime.fromisoformat(data["received_at"])
    sealed = data.pop("sealed", None)
    if sealed is not None:
        opened = contacts.decrypt(sealed.encode()) if contacts else None
        if opened is None:
            raise ValueError("this kept message cannot be decrypted with this key")
        data.update(json.loads(opened))
    return Inbound(**data)


def kept_sender(raw: str, contacts: ContactCipher) -> str | None:
    """The platform id of whoever sent a kept message or public post, when it can be read."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("sealed"), str):
        opened = contacts.decrypt(data["sealed"].encode())
        return json.loads(opened).get("sender") if opened else None
    if "post_id" in data:  # a public post kept by a listener (handlers/public.py)
        return data.get("author_id") or None
    return data.get("sender")


async def keep_failed(engine: Keeper, inbound: Inbound, error: BaseException) -> FailedRecord:
    """Store the message and the error in their own transaction (the failed one was
    rolled back). Raises StoreUnavailable if even that cannot be stored."""
    description = f"{type(error).__name__}: {error}"[:2000]
    async with engine.store.transaction() as unit:
        return await unit.failed.add(
            inbound.channel,
            inbound.message_id,
            inbound_to_json(inbound, engine.contacts),
            description,
            engine.clock(),
        )


async def list_failed(engine: Keeper, *, include_done: bool = False) -> list[FailedRecord]:
    async with engine.store.reader() as unit:
        return await unit.failed.list(status=None if include_done else "failed")


async def retry_failed(engine: Retrier, failed_id: int) -> tuple[Inbound, Outcome] | None:
    """Handle a kept message again; on success it is marked done, on failure kept with
    the new error. Returns None when there is no such kept message."""
    async with engine.store.reader() as unit:
        record = await unit.failed.get(failed_id)
    if record is None:
        return None
    inbound = inbound_from_json(record.raw, engine.contacts)
    try:
        outcome = await engine.handle(inbound)
    except Exception as error:
        await keep_failed(engine, inbound, error)
        raise
    async with engine.store.transaction() as unit:
        await unit.failed.mark(failed_id, "done", engine.clock())
    return inbound, outcome


def sent_by(channel: str, sender: str) -> Callable[[str, str], bool]:
    """The `is_theirs` of `forget_kept_messages` for a person known by channel and id."""
    return lambda kept_channel, kept_sender: (kept_channel, kept_sender) == (channel, sender)


async def forget_kept_messages(
    unit: Unit, contacts: ContactCipher, is_theirs: Callable[[str, str], bool]
) -> int:
    """Delete the kept messages and posts of one person (FORGET, or a team erasure): they
    hold that person's words as written and their platform id. `is_theirs(channel,
    platform_id)` says whether a kept message is that person's."""
    theirs = [
        record.id
        for record in await unit.failed.every()
        if (sender := kept_sender(record.raw, contacts)) is not None
        and is_theirs(record.channel, sender)
    ]
    return await unit.failed.remove(theirs)
