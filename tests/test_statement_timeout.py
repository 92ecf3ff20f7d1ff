"""SQLite's statement timeout (storage/statement_budget.py): a statement that runs past
`store.statement_seconds` is stopped within its budget, on the async engine (reports,
the CLI) and in the batch writer's thread (webhooks), as `StatementTimeout` (a
`StoreUnavailable`: 503); the connection and normal work go on as before."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.database import Store
from storage.errors import StatementTimeout, StoreUnavailable
from storage.timeouts import StoreTimeouts

BUDGET = 0.3
# Counts to a billion: minutes of work for SQLite, far past any budget here.
ENDLESS = text(
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) "
    "SELECT count(*) FROM c"
)
SHORT = text(
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) "
    "SELECT count(*) FROM c"
)


@pytest.fixture
def sqlite_file(sqlite_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "chorus.db"
    path.write_bytes(sqlite_template.read_bytes())
    return path


@pytest.fixture
async def sqlite_store(sqlite_file: Path):
    store = Store.connect(
        f"sqlite+aiosqlite:///{sqlite_file}", timeouts=StoreTimeouts(statement_seconds=BUDGET)
    )
    yield store
    await store.close()


async def test_a_long_report_query_is_stopped_within_its_budget(sqlite_store: Store) -> None:
    started = time.monotonic()
    with pytest.raises(StatementTimeout, match=r"store.statement_seconds \(0.3 s\)"):
        async with sqlite_store.reader() as unit:
            await unit.session.scalar(ENDLESS)
    elapsed = time.monotonic() - started
    assert BUDGET <= elapsed < BUDGET + 0.5, elapsed
    # Nothing is left broken: the same pool answers at once.
    async with sqlite_store.reader() as unit:
        assert await unit.session.scalar(SHORT) == 1000
        assert await unit.participants.count() == 0


async def test_the_batch_writer_s_statements_are_stopped_too(sqlite_store: Store) -> None:
    def work(read, write):
        with write.begin():
            return write.execute(ENDLESS).scalar()

    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as raised:  # what a webhook answers 503 to
        await sqlite_store.run_batch(work)
    assert isinstance(raised.value, StatementTimeout)
    assert time.monotonic() - started < BUDGET + 0.5

    def short(read, write):
        with write.begin():
            return write.execute(SHORT).scalar()

    assert await sqlite_store.run_batch(short) == 1000


async def test_work_within_the_budget_is_not_touched(sqlite_store: Store) -> None:
    # Many statements, each well within the budget, over several budgets in all: the
    # deadline is per statement, not per connection or transaction.
    started = time.monotonic()
    async with sqlite_store.reader() as unit:
        while time.monotonic() - started < 3 * BUDGET:
            assert await unit.session.scalar(SHORT) == 1000
