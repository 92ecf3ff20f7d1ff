"""`chorus db backup FILE` and `chorus db restore FILE`: a consistent copy of a SQLite
store that is being written to, a restore refused while Chorus runs and done once it has
stopped (the replaced store kept beside it), and PostgreSQL pointed to pg_dump."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import pytest

from handlers.types import Inbound
from storage.backup import BackupError, backup, restore
from storage.database import Store
from tests.conftest import FakeClock, make_engine, make_settings
from tests.running_chorus import chorus_in_process, chorus_server
from tests.test_cli import chorus


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "store" / "chorus.db"
    path.parent.mkdir()
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


def rows(path: Path, table: str) -> int:
    with sqlite3.connect(path) as connection:
        return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("copy-*") if p.suffix != ".db")


async def test_a_backup_taken_under_writes_is_one_consistent_snapshot(
    sqlite_url: str, tmp_path: Path, enricher
) -> None:
    await asyncio.to_thread(enricher.warm_up)  # not inside the first writer's turn
    store = Store.connect(sqlite_url)
    engine = make_engine(store, make_settings(sqlite_url), enricher, FakeClock())
    await engine.prepare()
    written = 0

    async def person(number: int) -> None:
        nonlocal written
        for step, text in enumerate(["hi", "yes", "skip", "skip", "skip"] + ["idea more"] * 6):
            if text == "idea more":
                text = f"idea number {step} from person {number}: more physios please"
            message = Inbound("console", f"p{number}", f"m{number}-{step}", engine.clock(), text)
            await engine.handle(message)
            written += 1

    writers = asyncio.gather(*(person(n) for n in range(4)))
    copies = []
    try:
        while not writers.done() and len(copies) < 3:
            target = tmp_path / f"copy-{len(copies)}.db"
            copies.append((written, await asyncio.to_thread(backup, sqlite_url, target)))
    finally:
        await writers
        await store.close()
    assert copies and copies[0][0] < written  # taken while the writers were busy
    for _, made in copies:
        path = Path(made["path"])
        with sqlite3.connect(path) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
            # Every applied message is counted once, with all it wrote: each idea belongs
            # to a processed message of the same snapshot.
            ideas = connection.execute("SELECT count(*) FROM contributions").fetchone()[0]
            processed = connection.execute("SELECT count(*) FROM processed_messages").fetchone()[0]
        assert ideas <= processed
    assert leftovers(tmp_path) == []  # no .partial file, no -wal: one self-contained file


async def test_restore_waits_for_chorus_to_stop_and_keeps_what_it_replaces(
    sqlite_url: str, tmp_path: Path
) -> None:
    database = Path(sqlite_url.split("///", 1)[1])
    saved = tmp_path / "saved.db"
    backup(sqlite_url, saved)
    runtime = chorus_server(make_settings(sqlite_url))
    await runtime.start()
    try:
        async with runtime.services.store.transaction() as unit:
            await unit.participants.create(
                "after-the-backup", "web", runtime.services.engine.clock()
            )
        with pytest.raises(BackupError, match="Chorus is running"):
            restore(sqlite_url, saved)
    finally:
        await runtime.stop()
    assert rows(database, "participants") == 1
    done = restore(sqlite_url, saved)
    assert rows(database, "participants") == 0
    assert rows(Path(done["previous"]), "participants") == 1
    with pytest.raises(BackupError, match="not a SQLite store|not a Chorus store"):
        (tmp_path / "notes.txt").write_text("not a database")
        restore(sqlite_url, tmp_path / "notes.txt")


def test_the_commands_as_a_user_runs_them(sqlite_url: str, tmp_path: Path) -> None:
    from tests.conftest import write_config

    write_config(tmp_path / "config.yaml")
    made = chorus(["db", "backup", "backups/monday.db"], tmp_path, sqlite_url)
    assert made.returncode == 0, made.stderr
    assert "backed up the store to backups/monday.db" in made.stdout
    put_back = chorus(["db", "restore", "backups/monday.db"], tmp_path, sqlite_url)
    assert put_back.returncode == 0, put_back.stderr
    assert "restored backups/monday.db" in put_back.stdout and "kept as" in put_back.stdout
    # The refusals through the entry point in this process: a process start each is
    # seconds of the suite, and the two above show the command as a process.
    missing = chorus_in_process(["db", "restore", "nothing.db"], tmp_path, sqlite_url)
    assert missing.returncode == 1 and "there is no backup at nothing.db" in missing.stderr
    postgres = chorus_in_process(
        ["db", "backup", "x.db"], tmp_path, "postgresql+asyncpg://postgres@127.0.0.1/chorus"
    )
    assert postgres.returncode == 1 and "pg_dump" in postgres.stderr
    assert "Traceback" not in made.stderr + put_back.stderr + missing.stderr + postgres.stderr
