"""Transactions that lose a race: PostgreSQL's deadlock victim is reported as a
conflict (not an outage, not a bug), and conflicts are tried again a few times."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from handlers.conflicts import ATTEMPTS, retrying_conflicts
from storage.database import Store
from storage.errors import StoreConflict
from storage.models import Checkpoint

NOW = datetime(2026, 12, 1, tzinfo=UTC)


async def test_a_deadlock_victim_is_a_conflict(postgres_url: str) -> None:
    store = Store.connect(postgres_url)
    try:
        async with store.transaction() as unit:
            for name in ("deadlock-a", "deadlock-b"):
                await unit.session.merge(Checkpoint(name=name, value="0", updated_at=NOW))
        first_holds_a, second_holds_b = asyncio.Event(), asyncio.Event()

        async def write(first: str, then: str, mine: asyncio.Event, theirs: asyncio.Event):
            async with store.transaction() as unit:
                await unit.session.execute(
                    update(Checkpoint).where(Checkpoint.name == first).values(value="1")
                )
                mine.set()
                await theirs.wait()
                await unit.session.execute(
                    update(Checkpoint).where(Checkpoint.name == then).values(value="1")
                )

        results = await asyncio.wait_for(
            asyncio.gather(
                write("deadlock-a", "deadlock-b", first_holds_a, second_holds_b),
                write("deadlock-b", "deadlock-a", second_holds_b, first_holds_a),
                return_exceptions=True,
            ),
            30,
        )
    finally:
        await store.close()
    conflicts = [r for r in results if isinstance(r, StoreConflict)]
    assert len(conflicts) == 1 and conflicts[0].kind == "deadlock", results
    assert results.count(None) == 1  # the other one committed


async def test_conflicts_are_tried_again_then_given_up() -> None:
    tries = []

    async def losing(times: int):
        tries.append(1)
        if len(tries) <= times:
            raise StoreConflict("lost a race with [parameters: ('private words',)]")
        return "done"

    result = await retrying_conflicts(lambda: losing(2), what="a test", rng=random.Random(1))
    assert result == "done"
    assert len(tries) == 3
    tries.clear()
    with pytest.raises(StoreConflict):
        await retrying_conflicts(lambda: losing(99), what="a test", rng=random.Random(1))
    assert len(tries) == ATTEMPTS


async def test_the_retry_log_does_not_quote_the_statement(caplog: pytest.LogCaptureFixture):
    calls = []

    async def once():
        calls.append(1)
        if len(calls) == 1:
            raise StoreConflict("duplicate key [parameters: ('Dr Smith was rude',)]")

    caplog.set_level("INFO")
    await retrying_conflicts(once, what="an sms message", rng=random.Random(1))
    assert "retrying an sms message after a conflict (unique row)" in caplog.text
    assert "Dr Smith" not in caplog.text
