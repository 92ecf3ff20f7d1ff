"""Messages whose handling raised: kept with the error so nothing is lost, and handled
again on request (`chorus failed`, `chorus retry`)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING

from handlers.privacy import ContactCipher
from handlers.types import Inbound, Outcome
from storage.records import FailedRecord
from storage.unit import Unit

if TYPE_CHECKING:  # the engine's flows use this module too (FORGET)
    from handlers.engine import Engine


def inbound_to_json(inbound: Inbound, contacts: ContactCipher | None = None) -> str:
    """The message as JSON; with `contacts`, the sender's platform id (a phone number on
    SMS) is kept only encrypted, like a follow-up address."""
    data = asdict(inbound)
    data["received_at"] = inbound.received_at.isoformat()
    if contacts is not None:
        data["sender"] = None
        data["sender_encrypted"] = contacts.encrypt(inbound.sender).decode()
    return json.dumps(data, ensure_ascii=False)


def inbound_from_json(text: str, contacts: ContactCipher | None = None) -> Inbound:
    data = json.loads(text)
    data["received_at"] = datetime.fromisoformat(data["received_at"])
    encrypted = data.pop("sender_encrypted", None)
    if encrypted is not None:
        sender = contacts.decrypt(encrypted.encode()) if contacts else None
        if sender is None:
            raise ValueError("the sender of this kept message cannot be decrypted with this key")
        data["sender"] = sender
    return Inbound(**data)


async def keep_failed(engine: Engine, inbound: Inbound, error: BaseException) -> FailedRecord:
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


async def list_failed(engine: Engine, *, include_done: bool = False) -> list[FailedRecord]:
    async with engine.store.reader() as unit:
        return await unit.failed.list(status=None if include_done else "failed")


async def retry_failed(engine: Engine, failed_id: int) -> tuple[Inbound, Outcome] | None:
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


async def forget_kept_messages(
    unit: Unit, contacts: ContactCipher, channel: str, sender: str
) -> int:
    """Delete the kept messages one person sent on a channel (FORGET): they hold that
    person's words as written, before redaction, and their platform id, encrypted."""
    theirs = []
    for record in await unit.failed.of_channel(channel):
        try:
            data = json.loads(record.raw)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        kept_sender = data.get("sender")
        if kept_sender is None and isinstance(data.get("sender_encrypted"), str):
            kept_sender = contacts.decrypt(data["sender_encrypted"].encode())
        if kept_sender == sender:
            theirs.append(record.id)
    return await unit.failed.remove(theirs)
