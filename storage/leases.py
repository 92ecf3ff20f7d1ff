"""Leases: one holder of a named job per deployment (e.g. the X listener).

On PostgreSQL a lease is a session-level advisory lock (pg_try_advisory_lock) held on a
connection of its own for as long as the job runs. If the holder's process dies, its
connection closes, PostgreSQL releases the lock, and another process can take the lease.
A SQLite store serves one process, so its lease is always granted.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Store
from storage.errors import StoreUnavailable

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a lease name."""
    digest = hashlib.sha256(f"chorus-lease:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Lease:
    """A granted or refused lease; `check()` tells whether it is still held."""

    def __init__(self, name: str, held: bool, connection: AsyncConnection | None = None):
        self.name = name
        self.held = held
        self._connection = connection

    async def check(self) -> bool:
        """True while the lease is held: its connection still answers (a lock outlives
        nothing but its connection)."""
        if not self.held:
            return False
        if self._connection is None:
            return True
        try:
            await self._connection.execute(text("SELECT 1"))
            await self._connection.commit()
        except Exception as error:
            log.warning("lease %s lost: %s: %s", self.name, type(error).__name__, error)
            self.held = False
        return self.held


@asynccontextmanager
async def lease(store: Store, name: str) -> AsyncIterator[Lease]:
    """Try once to take the lease `name`; yields a Lease whose `held` says if it was
    granted. Leaving the block releases it. Raises StoreUnavailable when the store
    cannot be reached."""
    if store.backend != "postgresql":
        yield Lease(name, True)
        return
    try:
        connection = await store.engine.connect()
    except Exception as error:
        raise StoreUnavailable(f"{type(error).__name__}: {error}") from error
    held = False
    try:
        try:
            held = bool(
                await connection.scalar(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": lock_key(name)}
                )
            )
            await connection.commit()  # the lock is the session's, not the transaction's
        except Exception as error:
            raise StoreUnavailable(f"{type(error).__name__}: {error}") from error
        granted = Lease(name, held, connection)
        yield granted
    finally:
        await _release(connection, name, held)


async def _release(connection: AsyncConnection, name: str, held: bool) -> None:
    try:
        if held:
            await connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(name)}
            )
            await connection.commit()
        await connection.close()
    except Exception:
        # The connection is gone, and the lock with it; make sure the pool drops it too.
        try:
            await connection.invalidate()
            await connection.close()
        except Exception:
            log.debug("lease %s: connection already closed", name)
