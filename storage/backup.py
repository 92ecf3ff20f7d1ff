"""Backing up and restoring the embedded SQLite store.

`backup` copies a store that may be in use, through SQLite's online backup API: the copy
is one consistent snapshot (WAL mode lets writers carry on meanwhile), written beside the
target and renamed into place only once it passes an integrity check, so a failed backup
never leaves a half-written file under the requested name.

`restore` puts a backup back, only when no Chorus process has the store open: every
process serving a store holds a shared lock on a marker file beside it (`in_use`), and a
restore needs that lock exclusively. The store being replaced is kept beside it first.
PostgreSQL has its own tools for both (pg_dump, point-in-time recovery).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


def sqlite_path(url: str) -> Path:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BackupError(
            "the store is PostgreSQL: back it up with pg_dump (and continuous archiving "
            "for point-in-time recovery); see README, Reliability"
        )
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError("the store is in memory; there is nothing to back up")
    return Path(parsed.database)


def _marker(database: Path) -> Path:
    return database.with_name(database.name + ".in-use")


@contextlib.contextmanager
def in_use(url: str) -> Iterator[None]:
    """Held by a running Chorus for as long as it serves a SQLite store (shared, so
    several processes may hold it); a no-op for PostgreSQL."""
    if make_url(url).get_backend_name() != "sqlite":
        yield
        return
    try:
        database = sqlite_path(url)
    except BackupError:
        yield
        return
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(_marker(database), "a+b") as marker:
        fcntl.flock(marker, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(marker, fcntl.LOCK_UN)


def _check(connection: sqlite3.Connection, what: str) -> None:
    result = connection.execute("PRAGMA integrity_check").fetchone()
    if not result or result[0] != "ok":
        raise BackupError(f"{what} failed SQLite's integrity check: {result[0] if result else ''}")


def backup(url: str, target: Path) -> dict:
    """Copy the store to `target`; returns the copy's size and table row counts."""
    database = sqlite_path(url)
    if not database.exists():
        raise BackupError(f"there is no store at {database}")
    target = Path(target)
    if target.resolve() == database.resolve():
        raise BackupError("the backup file cannot be the store itself")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        copy = sqlite3.connect(partial)
        try:
            # In one step: a single read transaction, so one snapshot even while writers
            # carry on (WAL); a stepwise copy would start again after each of their commits.
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            _check(copy, "the copy")
            counts = _counts(copy)
        finally:
            copy.close()
    except sqlite3.Error as error:
        partial.unlink(missing_ok=True)
        raise BackupError(f"the backup failed: {error}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    os.replace(partial, target)
    return {"path": str(target), "bytes": target.stat().st_size, "rows": counts}


def restore(url: str, source_file: Path) -> dict:
    """Replace the store with `source_file`, a backup; refuses while Chorus is running."""
    database = sqlite_path(url)
    source_file = Path(source_file)
    if not source_file.is_file():
        raise BackupError(f"there is no backup at {source_file}")
    try:
        source = sqlite3.connect(f"file:{source_file}?mode=ro", uri=True)
        try:
            _check(source, f"{source_file}")
            _expect_chorus(source, source_file)
        finally:
            source.close()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{source_file} is not a SQLite store: {error}") from None
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(_marker(database), "a+b") as marker:
        try:
            fcntl.flock(marker, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(
                f"Chorus is running on {database}; stop it (every `chorus run`) and try again"
            ) from None
        try:
            kept = None
            if database.exists():
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                kept = database.with_name(f"{database.name}.before-restore-{stamp}")
                backup(f"sqlite:///{database}", kept)
            source = sqlite3.connect(f"file:{source_file}?mode=ro", uri=True)
            target = sqlite3.connect(database)
            try:
                source.backup(target)  # through SQLite, so its WAL and locks stay right
                _check(target, "the restored store")
                counts = _counts(target)
            finally:
                target.close()
                source.close()
        finally:
            fcntl.flock(marker, fcntl.LOCK_UN)
    return {"path": str(database), "previous": str(kept) if kept else None, "rows": counts}


def _expect_chorus(connection: sqlite3.Connection, name: Path) -> None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        row = None
    if row is None:
        raise BackupError(f"{name} is not a Chorus store (it has no schema revision)")


def _counts(connection: sqlite3.Connection) -> dict[str, int]:
    names = [
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    return {
        name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names
    }
