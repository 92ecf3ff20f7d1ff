"""Opening the store: the async engine for SQLite or PostgreSQL, and its transactions.

`Store.transaction()` is the only way to change data: one transaction per inbound
message, committed before any webhook answers 2xx. Driver errors that mean "the database
is not there or cannot commit now" become `StoreUnavailable`, so adapters can answer 503.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar, cast

from sqlalchemy import Connection, Engine, event, exc, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from storage.errors import (
    SchemaOutdated,
    StatementTimeout,
    StoreConfigError,
    StoreConflict,
    StoreUnavailable,
)
from storage.grouping import Grouping
from storage.health import HealthProbe
from storage.statement_budget import budgeted_connection, was_interrupted
from storage.timeouts import StoreTimeouts
from storage.unit import Unit

log = logging.getLogger(__name__)
T = TypeVar("T")

SQLITE_BUSY_SECONDS = 5.0
WRITER_QUEUE_SECONDS = 10.0  # under the 15 s a webhook provider waits for an answer


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(
    url: str,
    *,
    busy_seconds: float = SQLITE_BUSY_SECONDS,
    timeouts: StoreTimeouts | None = None,
) -> AsyncEngine:
    """An engine with the settings Chorus relies on for each backend, every wait bounded
    (see storage/timeouts.py)."""
    timeouts = timeouts or StoreTimeouts()
    if not is_sqlite(url):
        return _postgres_engine(url, timeouts, ping=True, size=10)

    _prepare_sqlite_file(url)
    database = make_url(url).database
    in_memory = not database or database == ":memory:" or "mode=memory" in url
    pooled = {} if in_memory else {"pool_timeout": timeouts.pool_seconds}
    # SQLite has no statement timeout of its own: storage/statement_budget.py adds one.
    factory = budgeted_connection(timeouts.statement_seconds)
    engine = create_async_engine(
        url, connect_args={"timeout": busy_seconds, "factory": factory}, **pooled
    )
    _sqlite_settings(engine.sync_engine, busy_seconds)
    return engine


def _postgres_engine(
    url: str, timeouts: StoreTimeouts, *, ping: bool, size: int, autocommit: bool = False
) -> AsyncEngine:
    options: dict[str, object] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    return create_async_engine(
        url,
        pool_pre_ping=ping,
        pool_size=size,
        max_overflow=size,
        pool_timeout=timeouts.pool_seconds,
        connect_args={
            "timeout": timeouts.connect_seconds,
            "command_timeout": timeouts.statement_seconds,
        },
        **options,
    )


def _read_then_write(
    write: Connection, work: Callable[[Connection, Connection], T], read: Connection
) -> T:
    return work(read, write)


def _sqlite_settings(engine: Engine, busy_seconds: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # Take over transaction control from the driver, so BEGIN IMMEDIATE below is ours.
        # The driver's connection is sqlite3's or aiosqlite's adapter, which mimics it;
        # the DB-API protocol has no `isolation_level`.
        cast(sqlite3.Connection, dbapi_connection).isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_seconds * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Writers take the lock up front: two deferred transactions that both try to
        # upgrade to writing would otherwise fail with "database is locked".
        if connection.get_execution_options().get("chorus_read_only"):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_file_engine(url: str, busy_seconds: float, statement_seconds: float) -> Engine | None:
    """A synchronous engine on the same SQLite file, for the batch writer's thread; None
    for an in-memory database (which only the async engine's connection can see)."""
    parsed = make_url(url)
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    engine = create_sync_engine(
        parsed.set(drivername="sqlite"),
        connect_args={
            "timeout": busy_seconds,
            "check_same_thread": False,
            "factory": budgeted_connection(statement_seconds),
        },
    )
    _sqlite_settings(engine, busy_seconds)
    return engine


UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    exc.OperationalError,
    exc.InterfaceError,
    exc.TimeoutError,  # no free pooled connection within pool_seconds
    OSError,
    TimeoutError,
)


def _is_unavailable(error: BaseException) -> bool:
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, UNAVAILABLE_ERRORS):
        return True
    # asyncpg raises its own exception types for lost or refused connections (a missing
    # database or role too), which SQLAlchemy wraps: look down the chain of causes.
    return any(type(cause).__name__ in _ASYNCPG_UNAVAILABLE for cause in _causes(error))


_ASYNCPG_UNAVAILABLE = frozenset(
    {
        "CannotConnectNowError",
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "InvalidCatalogNameError",
        "InvalidAuthorizationSpecificationError",
        "InvalidPasswordError",
        "TooManyConnectionsError",
        "AdminShutdownError",
    }
)


# PostgreSQL's SQLSTATEs for a transaction it cancelled to break a deadlock, or could not
# serialise: nothing was committed, and the same transaction run again will succeed.
_RACE_STATES = frozenset({"40P01", "40001"})


def _lost_a_race(error: BaseException) -> bool:
    return any(getattr(cause, "sqlstate", None) in _RACE_STATES for cause in _causes(error))


def _causes(error: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in found and len(found) < 8:
        found.append(current)
        current = getattr(current, "orig", None) or current.__cause__
    return found


class Store:
    """The shared store: an engine plus the transactions handlers work in."""

    def __init__(
        self, engine: AsyncEngine, url: str, timeouts: StoreTimeouts | None = None
    ) -> None:
        self.engine = engine
        self.url = url
        self.backend = make_url(url).get_backend_name()
        self.timeouts = timeouts or StoreTimeouts()
        self._probe: HealthProbe | None = None
        # Which roles count together for consensus; set from the config at start.
        self.grouping = Grouping()
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._read_sessions = async_sessionmaker(
            engine.execution_options(chorus_read_only=True),
            expire_on_commit=False,
            autoflush=False,
        )
        # SQLite has one writer at a time. This process's writers queue here, first come
        # first served, rather than in SQLite's busy handler, which polls unfairly and
        # gave up with "database is locked" under a burst of webhooks.
        self._writers = asyncio.Lock() if self.backend == "sqlite" else None
        # The batch writer's own synchronous engine and thread (SQLite on a file): a
        # whole batch is one hop to this thread instead of one hop per statement.
        self._sync_engine: Engine | None = None
        self._writer_connection: Connection | None = None  # used in that thread only
        self._sync_thread: ThreadPoolExecutor | None = None
        if self.backend == "sqlite":
            self._sync_engine = _sqlite_file_engine(
                url, SQLITE_BUSY_SECONDS, self.timeouts.statement_seconds
            )
            self._sync_thread = ThreadPoolExecutor(1, thread_name_prefix="chorus-writer")
        # PostgreSQL: the batch writer's own small pools, its reads in autocommit from
        # the connection's start (not set and reset at every batch), and no ping at
        # checkout: the ping is a round trip, 0.2 ms of CPU, twice a batch. A connection
        # that has gone fails its batch, which is tried again at once (`run_batch`).
        self._batch_pools: tuple[AsyncEngine, AsyncEngine] | None = None
        if self.backend == "postgresql":
            timeouts = self.timeouts
            self._batch_pools = (
                _postgres_engine(url, timeouts, ping=False, size=2, autocommit=True),
                _postgres_engine(url, timeouts, ping=False, size=2),
            )

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        busy_seconds: float = SQLITE_BUSY_SECONDS,
        timeouts: StoreTimeouts | None = None,
    ) -> Store:
        try:
            backend = make_url(url).get_backend_name()
        except exc.ArgumentError:
            raise StoreConfigError(
                "CHORUS_DATABASE_URL is not a database URL; use e.g. "
                "sqlite+aiosqlite:///var/chorus.db or postgresql+asyncpg://user@host/db"
            ) from None
        if backend not in ("sqlite", "postgresql"):
            raise StoreConfigError(
                f"CHORUS_DATABASE_URL names {backend!r}; Chorus supports SQLite and PostgreSQL"
            )
        try:
            engine = create_engine(url, busy_seconds=busy_seconds, timeouts=timeouts)
            return cls(engine, url, timeouts)
        except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as error:
            hint = ""
            if backend == "postgresql":
                hint = " (Chorus talks to PostgreSQL through asyncpg: postgresql+asyncpg://...)"
            raise StoreConfigError(f"CHORUS_DATABASE_URL cannot be used: {error}{hint}") from None
        except OSError as error:  # the SQLite file's folder cannot be created
            raise StoreConfigError(
                f"CHORUS_DATABASE_URL: cannot create the folder for the SQLite file "
                f"({error.strerror}: {error.filename})"
            ) from None

    def sync_engines(self) -> list[Engine]:
        """Every engine this store's statements run on, for listeners of SQLAlchemy's
        events (tracing, the tests' statement counts)."""
        pools = [self.engine, *(self._batch_pools or ())]
        return [pool.sync_engine for pool in pools] + [
            e for e in (self._sync_engine,) if e is not None
        ]

    async def close(self) -> None:
        if self._sync_thread is not None:
            if self._sync_engine is not None:
                await asyncio.get_running_loop().run_in_executor(
                    self._sync_thread, self._close_in_thread
                )
            self._sync_thread.shutdown(wait=True)
        if self._probe is not None:
            await self._probe.close()
        for pool in self._batch_pools or ():
            await pool.dispose()
        await self.engine.dispose()

    async def run_batch(self, work: Callable[[Connection, Connection], T]) -> T:
        """Run `work(read, write)` on two synchronous connections in one hop: in the
        writer thread for SQLite, inside one `run_sync` for PostgreSQL. `work` opens its
        own transactions (storage/batch.py); this holds the process's writer turn."""
        async with self._writer_turn(), self._guard():
            if self._sync_engine is not None:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._sync_thread, self._in_thread, work)
            if self._batch_pools is not None:
                return await self._postgres_batch(work, *self._batch_pools)
            async with self.engine.connect() as write:  # SQLite in memory: one connection
                return await write.run_sync(lambda w: work(w, w))

    async def _postgres_batch(
        self, work: Callable[[Connection, Connection], T], reads: AsyncEngine, writes: AsyncEngine
    ) -> T:
        for attempt in (1, 2):
            try:
                async with writes.connect() as write, reads.connect() as read:
                    reading = read.sync_connection
                    assert reading is not None  # set once connected
                    return await write.run_sync(_read_then_write, work, reading)
            except exc.DBAPIError as error:
                # A pooled connection that had gone (the server restarted): nothing of
                # the batch was kept. Both pools start afresh (the other's connections
                # went too), and the batch is run again.
                if attempt == 2 or not error.connection_invalidated:
                    raise
                log.info("the store's connection had gone; the batch is run again")
                await reads.dispose()
                await writes.dispose()
        raise AssertionError("unreachable")

    def _in_thread(self, work: Callable[[Connection, Connection], T]) -> T:
        """SQLite's batch in the writer's thread, on the connection it keeps between
        batches (a checkout and check-in from the pool each batch cost as much as
        deciding a message). This thread is the only writer, so the batch reads where
        it writes; a connection that failed is closed, and the next batch opens one."""
        assert self._sync_engine is not None
        write = self._writer_connection
        if write is None:
            write = self._writer_connection = self._sync_engine.connect()
        try:
            return work(write, write)
        except BaseException:
            self._writer_connection = None
            write.close()
            raise

    def _close_in_thread(self) -> None:
        if self._writer_connection is not None:
            self._writer_connection.close()
            self._writer_connection = None
        assert self._sync_engine is not None
        self._sync_engine.dispose()

    async def probe(self) -> dict[str, object]:
        """The store's state for /healthz within `timeouts.health_seconds`, on a connection
        of its own (never queued behind writers); `health()` with the main pool."""
        if self._probe is None:
            from storage.migrate import head_revision

            self._probe = HealthProbe(
                self.url,
                self.backend,
                self.timeouts.health_seconds,
                head=head_revision(),
                unavailable=_is_unavailable,
                describe=_short,
            )
        return await self._probe.check()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Unit]:
        """One read-write transaction; commits on success, rolls back on any error."""
        async with (
            self._writer_turn(),
            self._guard(),
            self._sessions() as session,
            session.begin(),
        ):
            unit = Unit(session, self.backend, self.grouping)
            yield unit
            await unit.tallies.flush()  # the shared counters last, just before commit

    @asynccontextmanager
    async def _writer_turn(self) -> AsyncIterator[None]:
        if self._writers is None:
            yield
            return
        try:
            async with asyncio.timeout(WRITER_QUEUE_SECONDS):
                await self._writers.acquire()
        except TimeoutError:
            raise StoreUnavailable(
                f"the store is busy: no turn to write within {WRITER_QUEUE_SECONDS:.0f} s"
            ) from None
        try:
            yield
        finally:
            self._writers.release()

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Unit]:
        """A read-only transaction for reports; it never takes SQLite's write lock."""
        async with self._guard(), self._read_sessions() as session, session.begin():
            yield Unit(session, self.backend, self.grouping)

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        try:
            yield
        except (StoreUnavailable, StoreConflict):
            raise
        except exc.IntegrityError as error:
            raise StoreConflict(_short(error)) from error
        except Exception as error:
            if _lost_a_race(error):
                raise StoreConflict(_short(error), kind="deadlock") from error
            if was_interrupted(error):
                seconds = self.timeouts.statement_seconds
                log.warning("store statement stopped after store.statement_seconds (%g s)", seconds)
                raise StatementTimeout(
                    f"a statement ran longer than store.statement_seconds ({seconds:g} s) "
                    "and was stopped"
                ) from error
            if _is_unavailable(error):
                log.warning("store unavailable: %s", _short(error))
                raise StoreUnavailable(_short(error)) from error
            raise

    async def health(self) -> dict[str, object]:
        """The store's state for /healthz: reachable, backend and schema revision."""
        from storage.migrate import current_revision, head_revision

        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
                revision = await connection.run_sync(current_revision)
        except Exception as error:
            if _is_unavailable(error):
                return {"ok": False, "backend": self.backend, "error": _short(error)}
            raise
        head = head_revision()
        return {
            "ok": revision == head,
            "backend": self.backend,
            "revision": revision,
            "expected_revision": head,
        }

    async def check_schema(self) -> None:
        state = await self.health()
        if "error" in state:
            raise StoreUnavailable(state["error"])
        if not state["ok"]:
            raise SchemaOutdated(
                f"the database is at revision {state['revision'] or 'none'}, Chorus needs "
                f"{state['expected_revision']}: run `chorus db upgrade`"
            )

    async def upgrade(self) -> None:
        from storage.migrate import upgrade_to_head

        try:
            async with self.engine.begin() as connection:
                before, after = await connection.run_sync(upgrade_to_head)
        except Exception as error:
            if _is_unavailable(error):
                raise StoreUnavailable(_short(error)) from error
            raise
        if before != after:
            log.info("store schema upgraded from %s to %s", before or "empty", after)


def _short(error: BaseException) -> str:
    if was_interrupted(error):  # storage/statement_budget.py
        return "a statement ran longer than store.statement_seconds and was stopped"
    original = getattr(error, "orig", None) or error
    if type(original).__name__ == "Error" and original.__cause__ is not None:
        original = original.__cause__  # asyncpg's own error, under SQLAlchemy's adapter
    message = str(original).strip().splitlines()[0] if str(original).strip() else ""
    return f"{type(original).__name__}: {message}" if message else type(original).__name__


__all__ = ["Store", "AsyncSession", "create_engine", "is_sqlite", "SchemaOutdated"]
