"""Making the store really unavailable in a test, and bringing it back, on both backends.

SQLite: another connection holds the write lock (BEGIN IMMEDIATE) while Chorus's store
waits only briefly for it. PostgreSQL: Chorus reaches the database through a local TCP
proxy; cutting the proxy refuses new connections and breaks the open ones.
"""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AsyncExitStack
from dataclasses import replace

from sqlalchemy.engine import make_url

from bot.config import Settings
from storage.database import Store, is_sqlite


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class StoreOutage:
    """`url` is what Chorus should connect to (with `busy_seconds`); `down()` and `up()`
    take the store away and give it back."""

    busy_seconds = 0.2
    # How long a message waits for the store in `with_short_waits` settings: one refused
    # in an outage is answered 503 (or its polling paused) only after that (4 s by default).
    webhook_seconds = 1.5

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.url = database_url
        self._proxy: TcpProxy | None = None
        self._held: AsyncExitStack | None = None

    async def __aenter__(self) -> StoreOutage:
        if not is_sqlite(self.database_url):
            parsed = make_url(self.database_url)
            self._proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
            await self._proxy.start()
            self.url = parsed.set(host="127.0.0.1", port=self._proxy.port).render_as_string(
                hide_password=False
            )
        return self

    def with_short_waits(self, settings: Settings) -> Settings:
        """`settings` whose webhooks wait `webhook_seconds` for the store."""
        store = settings.file.store.model_copy(update={"webhook_seconds": self.webhook_seconds})
        return replace(settings, file=settings.file.model_copy(update={"store": store}))

    async def __aexit__(self, *_exc) -> None:
        await self.up()
        if self._proxy is not None:
            await self._proxy.stop()

    async def down(self) -> None:
        if self._proxy is not None:
            await self._proxy.stop()
            return
        stack = AsyncExitStack()
        blocker = Store.connect(self.database_url, busy_seconds=self.busy_seconds)
        stack.push_async_callback(blocker.close)
        unit = await stack.enter_async_context(blocker.transaction())
        await unit.participants.count()  # BEGIN IMMEDIATE: the write lock is now held
        self._held = stack

    async def up(self) -> None:
        if self._proxy is not None:
            if self._proxy._server is None:
                await self._proxy.start()
            return
        if self._held is not None:
            held, self._held = self._held, None
            await held.aclose()
