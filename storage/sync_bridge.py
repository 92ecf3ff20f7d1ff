"""Running the store's async repositories on a synchronous connection.

The batch writer (storage/batch.py) works on a plain synchronous connection, in one hop
to the database driver's thread. A few rare effects (FORGET's erasure) and the tallies
reuse the repositories written for `AsyncSession`; `SyncSession` gives them the same
methods over a synchronous `Session`, and `run_now` drives such a coroutine to its end
without an event loop: none of its awaits ever waits, since every statement runs at once.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.orm import Session

T = TypeVar("T")


def run_now(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of a coroutine that never suspends (see the module docstring)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("a store coroutine tried to wait inside a synchronous batch")


class SyncSession:
    """The parts of AsyncSession the repositories use, over a synchronous Session (or a
    Connection, for code that only executes statements)."""

    def __init__(self, session: Session | Connection) -> None:
        self.sync = session

    def add(self, row: object) -> None:
        self.sync.add(row)

    async def execute(self, statement, params=None, **kwargs):
        if params is None:
            return self.sync.execute(statement, **kwargs)
        return self.sync.execute(statement, params, **kwargs)

    async def scalar(self, statement, params=None, **kwargs):
        return self.sync.scalar(statement, params, **kwargs)

    async def scalars(self, statement, params=None, **kwargs):
        return self.sync.scalars(statement, params, **kwargs)

    async def get(self, entity, ident, **kwargs):
        return self.sync.get(entity, ident, **kwargs)

    async def flush(self) -> None:
        self.sync.flush()

    async def refresh(self, row: object) -> None:
        self.sync.refresh(row)
