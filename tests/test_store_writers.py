"""A burst of writers on one store: on SQLite they queue for the single write lock in
order, so none gives up with "database is locked" (a burst of SMS webhooks did, before)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import func, select

from storage.database import Store
from storage.models import Checkpoint

WRITERS = 40


async def test_a_burst_of_writers_takes_turns(database_url: str) -> None:
    # A short busy timeout: writers left to SQLite's busy handler would give up.
    store = Store.connect(database_url, busy_seconds=0.2)
    now = datetime(2026, 12, 1, tzinfo=UTC)

    async def write(number: int) -> None:
        async with store.transaction() as unit:
            await unit.checkpoints.set(f"writer-{number}", str(number), now)
            await asyncio.sleep(0.02)  # work done while the transaction is open

    try:
        await asyncio.gather(*(write(n) for n in range(WRITERS)))
        async with store.reader() as unit:
            written = await unit.session.scalar(
                # Only this test's rows: a migrated store keeps checkpoints of its own.
                select(func.count()).select_from(Checkpoint).where(Checkpoint.name.like("writer-%"))
            )
    finally:
        await store.close()
    assert written == WRITERS
