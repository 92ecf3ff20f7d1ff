"""The store's bookkeeping: processed message ids, failed inbound messages, listener
checkpoints, the follow-up outbox and the audit log of team actions."""

from __future__ import annotations

import builtins
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry, Checkpoint, FailedInbound, OutboxMessage, ProcessedMessage
from storage.records import FailedRecord, OutboxRecord


def _insert(backend: str) -> Any:
    return postgresql.insert if backend == "postgresql" else sqlite.insert


class ProcessedMessages:
    def __init__(self, session: AsyncSession, backend: str) -> None:
        self.session = session
        self.backend = backend

    async def claim(self, channel: str, message_id: str, now: datetime) -> bool:
        """Record a message id; False when it was already recorded.

        On PostgreSQL a second worker claiming the same id waits for the first one's
        transaction and then finds the row, so a message is applied at most once.
        """
        statement = (
            _insert(self.backend)(ProcessedMessage)
            .values(channel=channel, message_id=message_id, processed_at=now)
            .on_conflict_do_nothing(index_elements=["channel", "message_id"])
        )
        result = await self.session.execute(statement)
        return cast("CursorResult[Any]", result).rowcount == 1

    async def seen(self, channel: str, message_id: str) -> bool:
        row = await self.session.get(ProcessedMessage, (channel, message_id))
        return row is not None


def _failed(row: FailedInbound) -> FailedRecord:
    return FailedRecord(
        row.id,
        row.channel,
        row.message_id,
        row.raw,
        row.error,
        row.attempts,
        row.status,
        row.created_at,
        row.updated_at,
    )


class FailedInbox:
    """A dead-letter table: inbound messages whose handling raised."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self, channel: str, message_id: str, raw: str, error: str, now: datetime
    ) -> FailedRecord:
        row = await self.session.scalar(
            select(FailedInbound).where(
                FailedInbound.channel == channel, FailedInbound.message_id == message_id
            )
        )
        if row is None:
            row = FailedInbound(
                channel=channel,
                message_id=message_id,
                raw=raw,
                error=error,
                attempts=1,
                status="failed",
                created_at=now,
                updated_at=now,
            )
            self.session.add(row)
        else:
            row.error, row.attempts, row.status, row.updated_at = (
                error,
                row.attempts + 1,
                "failed",
                now,
            )
        await self.session.flush()
        return _failed(row)

    async def list(self, *, status: str | None = "failed", limit: int = 100) -> list[FailedRecord]:
        query = select(FailedInbound).order_by(FailedInbound.id).limit(limit)
        if status:
            query = query.where(FailedInbound.status == status)
        return [_failed(row) for row in await self.session.scalars(query)]

    async def get(self, failed_id: int) -> FailedRecord | None:
        row = await self.session.get(FailedInbound, failed_id)
        return _failed(row) if row else None

    async def every(self) -> builtins.list[FailedRecord]:
        """Every kept message, retried or not (to find one person's)."""
        query = select(FailedInbound).order_by(FailedInbound.id)
        return [_failed(row) for row in await self.session.scalars(query)]

    async def remove(self, failed_ids: builtins.list[int]) -> int:
        if not failed_ids:
            return 0
        result = await self.session.execute(
            delete(FailedInbound).where(FailedInbound.id.in_(failed_ids))
        )
        return cast("CursorResult[Any]", result).rowcount

    async def mark(self, failed_id: int, status: str, now: datetime) -> None:
        await self.session.execute(
            update(FailedInbound)
            .where(FailedInbound.id == failed_id)
            .values(status=status, updated_at=now)
        )


class Checkpoints:
    def __init__(self, session: AsyncSession, backend: str) -> None:
        self.session = session
        self.backend = backend

    async def get(self, name: str) -> str | None:
        row = await self.session.get(Checkpoint, name)
        return row.value if row else None

    async def set(self, name: str, value: str, now: datetime) -> None:
        statement = _insert(self.backend)(Checkpoint).values(name=name, value=value, updated_at=now)
        statement = statement.on_conflict_do_update(
            index_elements=["name"], set_={"value": value, "updated_at": now}
        )
        await self.session.execute(statement)

    async def advance(self, name: str, value: str, now: datetime) -> None:
        """Move a position given as a decimal id (e.g. the newest post id seen) forward,
        never back: a concurrent writer with an older id leaves the newer one in place."""
        if not value.isdigit():
            raise ValueError(f"checkpoint {name!r}: {value!r} is not a decimal id")
        current: Any = Checkpoint.__table__.c.value
        if self.backend == "postgresql":
            current = current.collate("C")  # compare digit by digit, whatever the locale
        older = or_(
            func.length(current) < len(value),
            and_(func.length(current) == len(value), current < value),
        )
        statement = _insert(self.backend)(Checkpoint).values(name=name, value=value, updated_at=now)
        statement = statement.on_conflict_do_update(
            index_elements=["name"], set_={"value": value, "updated_at": now}, where=older
        )
        await self.session.execute(statement)


def _outbox(row: OutboxMessage) -> OutboxRecord:
    return OutboxRecord(
        row.id,
        row.participant_id,
        row.channel,
        row.text,
        row.status,
        row.attempts,
        row.next_attempt_at,
        row.address_encrypted,
        row.created_at,
    )


class Outbox:
    """Follow-up messages to people other than the sender, sent by a background job."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enqueue(
        self,
        participant_id: int,
        channel: str,
        text: str,
        now: datetime,
        *,
        address_encrypted: bytes | None = None,
        due: datetime | None = None,
    ) -> int:
        """`address_encrypted` when it goes to that address, not the stored contact; `due`
        when it may not be sent before then (default: now)."""
        row = OutboxMessage(
            participant_id=participant_id,
            channel=channel,
            text=text,
            address_encrypted=address_encrypted,
            status="queued",
            attempts=0,
            next_attempt_at=due or now,
            created_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def claim_due(
        self, now: datetime, *, lease: timedelta, limit: int = 50
    ) -> list[OutboxRecord]:
        """Take queued messages whose time has come (and any whose sender died mid-send,
        once their lease ran out) for sending outside the transaction."""
        rows = list(
            await self.session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.status.in_(("queued", "sending")),
                    OutboxMessage.next_attempt_at <= now,
                )
                .order_by(OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for row in rows:
            row.status, row.next_attempt_at = "sending", now + lease
        await self.session.flush()
        return [_outbox(row) for row in rows]

    async def mark_sent(self, message_id: int) -> None:
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(status="sent", address_encrypted=None)
        )

    async def retry_later(
        self, message_id: int, error: str, now: datetime, *, delay: timedelta, give_up: bool
    ) -> None:
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(
                attempts=OutboxMessage.attempts + 1,
                last_error=error,
                next_attempt_at=now + delay,
                status="failed" if give_up else "queued",
                **({"address_encrypted": None} if give_up else {}),
            )
        )

    async def drop(self, message_id: int) -> None:
        """Remove a message, whatever its status (one this transaction claimed)."""
        await self.session.execute(delete(OutboxMessage).where(OutboxMessage.id == message_id))

    async def drop_queued(self, message_id: int) -> None:
        """Remove a message not yet taken for sending (one taken already stays)."""
        await self.session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.id == message_id, OutboxMessage.status == "queued"
            )
        )

    async def cancel_for(self, participant_id: int) -> int:
        result = await self.session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.participant_id == participant_id,
                OutboxMessage.status.in_(("queued", "sending")),
            )
        )
        return cast("CursorResult[Any]", result).rowcount


class Audit:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        actor: str,
        action: str,
        now: datetime,
        *,
        target: str | None = None,
        detail: dict | None = None,
    ) -> None:
        self.session.add(
            AuditEntry(at=now, actor=actor, action=action, target=target, detail=detail or {})
        )
        await self.session.flush()

    async def recent(self, limit: int = 50) -> list[dict]:
        rows = await self.session.scalars(
            select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        )
        return [
            {
                "id": r.id,
                "at": r.at,
                "actor": r.actor,
                "action": r.action,
                "target": r.target,
                "detail": r.detail,
            }
            for r in rows
        ]
