"""The durable queue of background jobs: charts, exports, re-clustering themes.

A job is claimed in a short transaction (its lease stops a second worker taking it;
PostgreSQL's SKIP LOCKED lets several workers claim side by side), run outside any
transaction, and settled in another. A worker that dies mid-job leaves it to be claimed
again when the lease runs out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Job

ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class JobRecord:
    id: int
    kind: str
    payload: dict
    attempts: int
    reply_channel: str | None
    reply_address_encrypted: bytes | None
    requested_by: str
    created_at: datetime


def _record(row: Job) -> JobRecord:
    return JobRecord(
        id=row.id,
        kind=row.kind,
        payload=dict(row.payload or {}),
        attempts=row.attempts,
        reply_channel=row.reply_channel,
        reply_address_encrypted=row.reply_address_encrypted,
        requested_by=row.requested_by,
        created_at=row.created_at,
    )


class Jobs:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enqueue(
        self,
        kind: str,
        payload: dict,
        now: datetime,
        *,
        requested_by: str,
        reply_channel: str | None = None,
        reply_address_encrypted: bytes | None = None,
        dedupe_key: str | None = None,
    ) -> int | None:
        """Queue a job; None when one with the same `dedupe_key` is already waiting."""
        if dedupe_key is not None:
            waiting = await self.session.scalar(
                select(Job.id).where(Job.dedupe_key == dedupe_key, Job.status == "queued")
            )
            if waiting is not None:
                return None
        row = Job(
            kind=kind,
            payload=payload,
            status="queued",
            attempts=0,
            run_after=now,
            reply_channel=reply_channel,
            reply_address_encrypted=reply_address_encrypted,
            requested_by=requested_by,
            dedupe_key=dedupe_key,
            created_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def claim(self, now: datetime, *, lease: timedelta, limit: int = 1) -> list[JobRecord]:
        rows = list(
            await self.session.scalars(
                select(Job)
                .where(Job.status.in_(ACTIVE), Job.run_after <= now)
                # Someone waiting for a result goes before a background refresh.
                .order_by(Job.reply_channel.is_(None), Job.run_after, Job.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for row in rows:
            row.status, row.run_after, row.attempts = "running", now + lease, row.attempts + 1
        await self.session.flush()
        return [_record(row) for row in rows]

    async def finish(self, job_id: int, now: datetime) -> None:
        await self.session.execute(
            update(Job).where(Job.id == job_id).values(status="done", finished_at=now)
        )

    async def retry_later(
        self, job_id: int, error: str, now: datetime, *, delay: timedelta, give_up: bool
    ) -> None:
        await self.session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                last_error=error[:2000],
                run_after=now + delay,
                status="failed" if give_up else "queued",
                finished_at=now if give_up else None,
            )
        )

    async def purge(self, before: datetime) -> int:
        """Forget settled jobs that finished before a moment; returns how many."""
        result = await self.session.execute(
            delete(Job).where(Job.status.in_(("done", "failed")), Job.finished_at < before)
        )
        return cast("CursorResult[Any]", result).rowcount

    async def count(self, *, status: str | None = None, kind: str | None = None) -> int:
        query = select(func.count()).select_from(Job)
        if status:
            query = query.where(Job.status == status)
        if kind:
            query = query.where(Job.kind == kind)
        return await self.session.scalar(query) or 0

    async def next_due(self) -> datetime | None:
        return await self.session.scalar(
            select(func.min(Job.run_after)).where(Job.status.in_(ACTIVE))
        )
