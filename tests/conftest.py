"""Shared test fixtures: the network guard, stores on SQLite and PostgreSQL, settings,
a controllable clock and a ready engine.

Every store test runs on both backends. PostgreSQL is expected on 127.0.0.1:5432 (trust
auth); the suite creates its own database and drops it at the end. When CI=true and
PostgreSQL cannot be reached, the PostgreSQL tests fail instead of being skipped.

`make test` runs the suite on both cores with pytest-xdist. Each worker is a process with
its own session fixtures: its PostgreSQL databases carry the worker's id in their names
(`WORKER`), its SQLite files live under its own temporary directory, and servers and fakes
listen on port 0. So a new test file needs nothing per worker of its own.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import ipaddress
import os
import random
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import yaml

from bot.config import ChannelSettings, Environment, Settings, parse_settings
from handlers.engine import Engine
from handlers.enrich import Enricher
from handlers.privacy import ContactCipher, Pseudonymizer
from storage.database import Store
from tests.fakes.x_api import FakeX
from tests.running_chorus import (  # noqa: F401 - TEST_SECRET: imported from here by tests
    TEST_SECRET,
    close_shared_enrichment,
)

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get(
    "CHORUS_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# The pytest-xdist worker this process is ("gw0", "gw1", ...), or "main" without xdist.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")

# --- No test may reach beyond this machine --------------------------------------------

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address: object) -> bool:
    if not isinstance(address, tuple):
        return True  # a Unix socket path
    host = str(address[0])
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guard(connect):
    def guarded(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
            raise ConnectionRefusedError(f"test tried to reach a non-local address: {address!r}")
        return connect(self, address)

    return guarded


socket.socket.connect = _guard(_real_connect)  # type: ignore[method-assign]
socket.socket.connect_ex = _guard(_real_connect_ex)  # type: ignore[method-assign]


# --- Time ----------------------------------------------------------------------------


class FakeClock:
    """A clock tests move by hand; each reading advances it a millisecond so that
    events keep their order."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# --- Settings ------------------------------------------------------------------------


@functools.cache
def _repository_config() -> dict:
    # Read once per worker: PyYAML's pure-Python loader takes 20 ms, and the suite builds
    # settings a few thousand times.
    return yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))


def config_dict(**overrides: object) -> dict:
    """The repository's config.yaml, with question dates around today so tests that run
    Chorus with the real clock keep working whatever the date."""
    data = copy.deepcopy(_repository_config())
    today = date.today()
    data["questions"][0]["opens"] = min(today - timedelta(days=400), date(2026, 11, 1))
    data["questions"][0]["closes"] = max(today + timedelta(days=400), date(2027, 3, 31))
    data["questions"][1]["opens"] = data["questions"][0]["closes"] + timedelta(days=1)
    data["questions"][1]["closes"] = data["questions"][1]["opens"] + timedelta(days=90)
    data.update(overrides)
    return data


def write_config(path: Path, **overrides: object) -> Path:
    path.write_text(yaml.safe_dump(config_dict(**overrides), sort_keys=False), encoding="utf-8")
    return path


def make_settings(database_url: str, **overrides: object) -> Settings:
    env = Environment.from_environ(
        {"CHORUS_DATABASE_URL": database_url, "CHORUS_SECRET": TEST_SECRET}
    )
    return Settings(
        file=parse_settings(config_dict(**overrides), REPO / "config.yaml"),
        env=env,
        path=REPO / "config.yaml",
    )


def with_section(settings: Settings, name: str, **changes: object) -> Settings:
    """`settings` with these keys of `channels.<name>` changed, as if config.yaml said so
    (the channel's own model reads the section when it is built)."""
    channels = dict(settings.file.channels.model_extra or {})
    channels[name] = {**(channels.get(name) or {}), **changes}
    file = settings.file.model_copy(update={"channels": ChannelSettings(**channels)})
    return replace(settings, file=file)


def with_environ(settings: Settings, **variables: str | None) -> Settings:
    """`settings` with these environment variables set (None: unset), as if Chorus had
    been started with them; each channel reads its own through its secrets model."""
    environ = {**settings.env.environ, **variables}
    kept = {name: value for name, value in environ.items() if value is not None}
    return replace(settings, env=replace(settings.env, environ=kept))


@pytest.fixture(scope="session", autouse=True)
def enrichment_processes() -> Iterator[None]:
    yield
    close_shared_enrichment()


# --- Local fakes of outside services ----------------------------------------------------


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def fake_x() -> AsyncIterator[FakeX]:
    """A fake of the X API v2 on a random port, knowing the tests' bearer token."""
    from tests.x_harness import TOKEN

    fake = FakeX(TOKEN)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


# --- Stores --------------------------------------------------------------------------


async def _upgrade(url: str) -> None:
    store = Store.connect(url)
    try:
        await store.upgrade()
    finally:
        await store.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(_upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


def pg_database_name(purpose: str) -> str:
    """A database name no other worker, run or test can hold: purpose, worker, process."""
    return f"chorus_{purpose}_{WORKER}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def _pg_url(database: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


async def _pg_admin(*statements: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def create_pg_database(name: str, template: str | None = None) -> None:
    """Create a test database. Its commits do not wait for the disk (a crash of the
    server may lose the last ones, which a throwaway database can afford): the suite's
    thousands of commits otherwise spend most of their time in fsync."""
    copy = f' TEMPLATE "{template}"' if template else ""
    asyncio.run(
        _pg_admin(
            f'CREATE DATABASE "{name}"{copy}',
            f'ALTER DATABASE "{name}" SET synchronous_commit TO off',
        )
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated, dropped at the end."""
    name = pg_database_name("test")
    try:
        create_pg_database(name)
    except Exception as error:
        message = f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    url = _pg_url(name)
    try:
        asyncio.run(_upgrade(url))
        yield url
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _emptying_statements() -> str:
    """Empty every table and restart every sequence, as a fresh database has them.

    DELETE in foreign-key order rather than TRUNCATE: on tables this small it is ten
    times quicker (TRUNCATE makes new files for each table and waits on the disk).
    """
    from storage.models import Base

    deletes = [f'DELETE FROM "{table.name}"' for table in reversed(Base.metadata.sorted_tables)]
    restart = (
        "DO $$ DECLARE s record; BEGIN FOR s IN SELECT schemaname, sequencename FROM pg_sequences"
        " WHERE schemaname = current_schema() LOOP EXECUTE format('ALTER SEQUENCE %I.%I RESTART',"
        " s.schemaname, s.sequencename); END LOOP; END $$"
    )
    return "; ".join(["BEGIN", *deletes, restart, "COMMIT"])


async def _empty_postgres_at(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await connection.execute(_emptying_statements())
    finally:
        await connection.close()


async def _empty_postgres(store: Store) -> None:
    await _empty_postgres_at(store.url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated store's URL on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "chorus.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    asyncio.run(_empty_postgres_at(url))
    return url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = Store.connect(database_url)
    try:
        yield opened
    finally:
        await opened.close()


# --- Engine --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def enricher() -> Enricher:
    settings = make_settings("sqlite+aiosqlite://").consultation
    return Enricher(settings.consultation.languages, settings.sentiment)


@pytest.fixture(scope="session", autouse=True)
def models_loaded() -> None:
    """Load the language models and word lists once per worker, before the first test.

    They are shared by every Enricher in the process, so Chorus started by a test finds
    them loaded, instead of the first test that sends a message paying seconds for them
    inside a wait for a reply (which times out on a busy machine). Built here, not taken
    from the `enricher` fixture, which test modules may override at a narrower scope.
    A nested run of a test that enriches nothing (tests/test_ci_postgres.py) sets
    CHORUS_TEST_MODELS_AT_FIRST_USE to skip it.
    """
    if os.environ.get("CHORUS_TEST_MODELS_AT_FIRST_USE"):
        return
    settings = make_settings("sqlite+aiosqlite://").consultation
    Enricher(settings.consultation.languages, settings.sentiment).warm_up()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def engine(store: Store, settings: Settings, enricher: Enricher, clock: FakeClock) -> Engine:
    built = Engine(
        store,
        settings.consultation,
        enricher=enricher,
        pseudonyms=Pseudonymizer(TEST_SECRET),
        contacts=ContactCipher(TEST_SECRET),
        clock=clock,
        rng=random.Random(7),
    )
    await built.prepare()
    return built


# --- Team insights: a small consultation built once per backend, copied for each test ---

CONSULTATION_BUILT_AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def insights_settings(database_url: str) -> Settings:
    from tests.insights_data import INSIGHTS, TEAM

    return make_settings(database_url, team=TEAM, insights=INSIGHTS)


def make_engine(store: Store, settings: Settings, enricher: Enricher, clock) -> Engine:
    return Engine(
        store,
        settings.consultation,
        enricher=enricher,
        pseudonyms=Pseudonymizer(TEST_SECRET),
        contacts=ContactCipher(TEST_SECRET),
        clock=clock,
        rng=random.Random(7),
    )


async def _build_consultation(url: str, enricher: Enricher) -> None:
    from tests.insights_data import build_consultation

    store = Store.connect(url)
    try:
        await store.upgrade()
        engine = make_engine(
            store, insights_settings(url), enricher, FakeClock(CONSULTATION_BUILT_AT)
        )
        await engine.prepare()
        await build_consultation(engine)
    finally:
        await store.close()


@pytest.fixture(scope="session")
def consultation_sqlite(sqlite_template: Path, tmp_path_factory, enricher: Enricher) -> Path:
    path = tmp_path_factory.mktemp("consultation") / "consultation.db"
    shutil.copy(sqlite_template, path)
    asyncio.run(_build_consultation(f"sqlite+aiosqlite:///{path}", enricher))
    return path


@pytest.fixture(scope="session")
def consultation_postgres(postgres_url: str, enricher: Enricher) -> Iterator[str]:
    """The name of a PostgreSQL database holding the consultation, used as a template."""
    name = pg_database_name("consultation")
    create_pg_database(name)
    try:
        asyncio.run(_build_consultation(_pg_url(name), enricher))
        yield name
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def consultation_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh copy of the small consultation (tests/insights_data.py) on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "consultation.db"
        shutil.copy(request.getfixturevalue("consultation_sqlite"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template = request.getfixturevalue("consultation_postgres")
    name = pg_database_name("copy")
    create_pg_database(name, template)
    try:
        yield _pg_url(name)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def team_engine(consultation_url: str, enricher: Enricher) -> AsyncIterator[Engine]:
    """An engine on a copy of the consultation, an hour after it was built."""
    store = Store.connect(consultation_url)
    try:
        built = make_engine(
            store,
            insights_settings(consultation_url),
            enricher,
            FakeClock(CONSULTATION_BUILT_AT + timedelta(hours=1)),
        )
        await built.prepare()
        yield built
    finally:
        await store.close()
