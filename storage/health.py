"""The /healthz probe of the store: its own connection, its own short timeout, never
behind the writers.

The probe runs as a task of its own, and a caller waits for it at most `seconds`: a store
that does not answer is reported as unreachable within that time, while the probe itself
ends on the driver's timeouts in the background. Calls that arrive while a probe is
running share it, so a load balancer polling hard cannot pile up connections, and a
good result is reused for a short moment under load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

log = logging.getLogger(__name__)

FRESH_SECONDS = 0.25  # a result this recent answers another call without a new probe


class HealthProbe:
    def __init__(
        self,
        url: str,
        backend: str,
        seconds: float,
        *,
        head: str,
        unavailable: Callable[[BaseException], bool],
        describe: Callable[[BaseException], str],
    ) -> None:
        """`unavailable` tells a driver error that means "not reachable" from a bug, and
        `describe` words an error in one short line (both from storage/database.py)."""
        self.url = url
        self._unavailable = unavailable
        self._describe = describe
        self.backend = backend
        self.seconds = seconds
        self.head = head
        self._engine: AsyncEngine | None = None
        self._running: asyncio.Task[dict] | None = None
        self._last: tuple[float, dict] | None = None
        self._disposals: set[asyncio.Task] = set()
        self._started = 0.0

    def _new_engine(self) -> AsyncEngine:
        if self.backend == "sqlite":
            # A plain deferred read in WAL mode: it never waits for SQLite's write lock.
            return create_async_engine(self.url, connect_args={"timeout": self.seconds})
        return create_async_engine(
            self.url,
            pool_size=1,
            max_overflow=0,
            pool_timeout=self.seconds,
            connect_args={"timeout": self.seconds, "command_timeout": self.seconds},
        )

    async def check(self) -> dict:
        """The store's state, within `seconds` whatever the store does."""
        arrived = time.monotonic()
        deadline = arrived + self.seconds
        last = self._last
        if last is not None and last[1]["ok"] and arrived - last[0] < FRESH_SECONDS:
            return last[1]
        state = await self._await_probe(deadline)
        if not state["ok"] and self._started < arrived and time.monotonic() < deadline:
            # That probe began before this call, maybe before the store came back: one
            # more, of our own, with the time that is left.
            state = await self._await_probe(deadline)
        return state

    async def _await_probe(self, deadline: float) -> dict:
        if self._running is None or self._running.done():
            self._started = time.monotonic()
            self._running = asyncio.create_task(self._probe(), name="store-health")
        try:
            remaining = max(0.0, deadline - time.monotonic())
            return await asyncio.wait_for(asyncio.shield(self._running), remaining)
        except TimeoutError:
            return self._unreachable(f"no answer within {self.seconds:g} s")

    def _unreachable(self, reason: str) -> dict:
        return {"ok": False, "backend": self.backend, "error": reason}

    async def _probe(self) -> dict:
        from storage.migrate import current_revision

        if self._engine is None:
            self._engine = self._new_engine()
        engine = self._engine
        try:
            # The driver's own timeouts end a silent probe; this is the last resort.
            async with asyncio.timeout(self.seconds * 4), engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
                revision = await connection.run_sync(current_revision)
        except Exception as error:
            if not (self._unavailable(error) or isinstance(error, TimeoutError)):
                log.warning("store health probe failed: %s", self._describe(error))
            # A connection left mid-statement is of no further use: start afresh.
            self._engine = None
            disposal = asyncio.get_running_loop().create_task(_dispose_quietly(engine))
            self._disposals.add(disposal)
            disposal.add_done_callback(self._disposals.discard)
            reason = "no answer" if isinstance(error, TimeoutError) else self._describe(error)
            state = self._unreachable(reason)
        else:
            state = {
                "ok": revision == self.head,
                "backend": self.backend,
                "revision": revision,
                "expected_revision": self.head,
            }
        self._last = (time.monotonic(), state)
        return state

    async def close(self) -> None:
        if self._running is not None and not self._running.done():
            self._running.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._running
        for disposal in list(self._disposals):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await disposal
        if self._engine is not None:
            await _dispose_quietly(self._engine)
            self._engine = None


async def _dispose_quietly(engine: AsyncEngine) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(5):
            await engine.dispose()
