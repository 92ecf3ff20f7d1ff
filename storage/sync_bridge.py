"""Running the store's async repositories on a synchronous connection.

The batch writer (storage/batch.py) works on a plain synchronous connection, in one hop
to the database driver's thread. A few rare effects (FORGET's erasure) and the tallies
reuse the repositories written for `AsyncSession`; `SyncSession` gives them the same
methods over a synchronous `Session`, and `run_now` drives such a coroutine to its end
without an event loop: none of its awaits ever waits, since every statement runs at once.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Executable, Result, ScalarResult
from sqlalchemy.orm import Session

T = TypeVar("T")
Row = TypeVar("Row")
Bound = Mapping[str, object]  # the values bound to one statement
Params = Bound | Sequence[Bound]  # ... or to one statement run many times


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

    async def execute(self, statement: Executable, params: Params | None = None) -> Result[Any]:
        if params is None:
            return self.sync.execute(statement)
        return self.sync.execute(statement, params)

    async def scalar(self, statement: Executable, params: Bound | None = None) -> Any:
        return self.sync.scalar(statement, params)  # a column's value, of its own type

    async def scalars(
        self, statement: Executable, params: Params | None = None
    ) -> ScalarResult[Any]:
        return self.sync.scalars(statement, params)

    async def run_sync(self, work: Callable[[Session | Connection], T]) -> T:
        """`work` on the synchronous session or connection, as AsyncSession.run_sync."""
        return work(self.sync)

    # Rows as objects: only over a Session.

    def add(self, row: object) -> None:
        self._session().add(row)

    async def get(
        self, entity: type[Row], ident: object, *, with_for_update: bool = False
    ) -> Row | None:
        return self._session().get(entity, ident, with_for_update=with_for_update or None)

    async def flush(self) -> None:
        self._session().flush()

    async def refresh(self, row: object) -> None:
        self._session().refresh(row)

    def _session(self) -> Session:
        if not isinstance(self.sync, Session):
            raise TypeError("rows as objects need a Session; this bridge holds a Connection")
        return self.sync
