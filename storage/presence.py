"""Presence: how many worker processes are doing one kind of work against this store.

Something shared by every worker, such as Telegram's 30 messages a second for one bot,
must be divided between them, so each needs to know how many there are. On PostgreSQL
each worker holds one of `SLOTS` leases named after the work (storage/leases.py: a
session-level advisory lock on a connection of its own), and counting the granted locks
of those names in `pg_locks` counts the workers. A worker that dies loses its connection,
PostgreSQL releases its lock, and the others count one fewer: nothing to clean up.
A SQLite store serves one process, so the count there is always 1.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack

from sqlalchemy import text

from storage.database import Store
from storage.errors import StoreUnavailable
from storage.leases import Lease, lease, lock_key

log = logging.getLogger(__name__)

SLOTS = 32  # workers counted; a worker beyond them counts itself, not the others past it

GRANTED_ADVISORY = text(
    "SELECT classid::bigint AS high, objid::bigint AS low FROM pg_locks "
    "WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def slot_names(work: str) -> list[str]:
    return [f"presence:{work}:{number}" for number in range(SLOTS)]


def _signed(high: int, low: int) -> int:
    """An int8 advisory key from pg_locks' two unsigned halves (classid, objid)."""
    key = (high << 32) | low
    return key - (1 << 64) if key >= 1 << 63 else key


class Presence:
    """This worker's place among the workers doing `work`: `join()` takes a slot,
    `count()` says how many hold one (this worker included), `leave()` gives it back."""

    def __init__(self, store: Store, work: str) -> None:
        self.store = store
        self.work = work
        self._keys = {lock_key(name) for name in slot_names(work)}
        self._held: Lease | None = None
        self._stack = AsyncExitStack()
        self._turn = asyncio.Lock()  # a join, a count or a leave at a time
        self._said_full = False

    @property
    def joined(self) -> bool:
        return self.store.backend != "postgresql" or self._held is not None

    async def join(self) -> None:
        """Take the first free slot (PostgreSQL); raises StoreUnavailable when the store
        cannot be reached, and may be called again later."""
        async with self._turn:
            await self._join()

    async def _join(self) -> None:
        if self.joined:
            return
        for name in slot_names(self.work):
            attempt = AsyncExitStack()
            held = await attempt.enter_async_context(lease(self.store, name))
            if held.held:
                self._held = held
                self._stack.push_async_exit(attempt)
                return
            await attempt.aclose()
        if not self._said_full:  # once: join is tried again at every count
            self._said_full = True
            log.warning(
                "more than %d workers doing %s: this one counts itself but not the others "
                "past %d",
                SLOTS, self.work, SLOTS,
            )  # fmt: skip

    async def count(self) -> int:
        """How many workers hold a slot, at least 1 (this one, even without a slot).
        Raises StoreUnavailable when the store cannot be reached."""
        if self.store.backend != "postgresql":
            return 1
        async with self._turn:
            return await self._count()

    async def _count(self) -> int:
        if self._held is not None and not await self._held.check():
            self._held = None  # its connection is gone, and the slot with it
            await self._stack.aclose()
        try:
            async with self.store.engine.connect() as connection:
                rows = (await connection.execute(GRANTED_ADVISORY)).all()
        except Exception as error:
            raise StoreUnavailable(f"{type(error).__name__}: {error}") from error
        holders = sum(_signed(row.high, row.low) in self._keys for row in rows)
        return max(1, holders + (0 if self._held is not None else 1))

    async def leave(self) -> None:
        async with self._turn:
            self._held = None
            await self._stack.aclose()
