"""SQLite's statement timeout: `store.statement_seconds` for every statement on the
connections Chorus opens, as PostgreSQL has through asyncpg's command timeout.

SQLite has no timeout of its own for a statement that runs long (a heavy report query):
its busy timeout only bounds waiting for a lock. Each connection gets a progress handler,
which SQLite calls every `CHECK_EVERY` virtual-machine instructions of a running statement
and which interrupts the statement once it is past its deadline. The deadline is set when
a statement starts (by the connection's cursor), so the budget is per statement, its rows
fetched included. (COMMIT and
ROLLBACK are a few instructions, far under `CHECK_EVERY`: a stale deadline never stops
them.) The interrupted statement fails with SQLite's "interrupted", which the
store reports as `StoreUnavailable` (storage/database.py): 503 for a webhook, a short
message from the CLI.

The handler is a Python call, so it must be rare: a statement shorter than `CHECK_EVERY`
instructions (every statement of the batch writer's hot path) never calls it at all.
"""

from __future__ import annotations

import math
import sqlite3
import time
from typing import Any

# Instructions between two calls of the handler: about 5-10 ms of SQLite's work. The
# handler is Python, so each call takes the GIL back from the thread that runs SQLite:
# while the event loop is busy that can cost milliseconds a call. At 20,000 (first try)
# ordinary batch-writer statements called it, and a busy test server's writes took over
# 4 s; at this interval the hot path's statements never reach it, and a long statement is
# still stopped within a few milliseconds of its deadline.
CHECK_EVERY = 1_000_000
INTERRUPTED = "interrupted"  # sqlite3.OperationalError's message for a stopped statement


class StatementBudget:
    """One connection's deadline; called by SQLite as the progress handler."""

    __slots__ = ("seconds", "deadline")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = math.inf

    def start(self) -> None:
        self.deadline = time.monotonic() + self.seconds

    def __call__(self) -> bool:
        # True (non-zero) tells SQLite to stop the statement with SQLITE_INTERRUPT.
        return time.monotonic() > self.deadline


class _BudgetedCursor(sqlite3.Cursor):
    """Starts its connection's deadline as each statement starts."""

    def execute(self, sql: str, parameters: Any = (), /) -> _BudgetedCursor:
        self.connection.budget.start()  # type: ignore[attr-defined]
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> _BudgetedCursor:
        self.connection.budget.start()  # type: ignore[attr-defined]
        return super().executemany(sql, parameters)


def budgeted_connection(seconds: float) -> type[sqlite3.Connection]:
    """A sqlite3 connection class (the `factory` of sqlite3.connect, which aiosqlite
    passes on too) whose statements each get `seconds`. The handler is set as the
    connection is made, in the thread that makes it (aiosqlite's own); the deadline is
    set by the cursor, with no SQLAlchemy event on the hot path."""

    class BudgetedConnection(sqlite3.Connection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.budget = StatementBudget(seconds)
            self.set_progress_handler(self.budget, CHECK_EVERY)

        def cursor(self, factory: Any = _BudgetedCursor) -> Any:
            return super().cursor(factory)

    return BudgetedConnection


def was_interrupted(error: BaseException) -> bool:
    """Whether a driver error is a statement stopped by its deadline."""
    original = getattr(error, "orig", None) or error
    return type(original).__name__ == "OperationalError" and str(original) == INTERRUPTED
