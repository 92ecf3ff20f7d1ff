"""`chorus db upgrade`: bring the store's schema to this version (Alembic);
`chorus db backup FILE` and `chorus db restore FILE` for the embedded SQLite store."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.config import load_settings
from storage.backup import BackupError, backup, restore
from storage.database import Store


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("db", parents=[common], help="manage the store's schema")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    upgrade = actions.add_parser(
        "upgrade", parents=[common], help="apply all migrations (CHORUS_DATABASE_URL)"
    )
    upgrade.set_defaults(handler=run_upgrade)
    current = actions.add_parser("current", parents=[common], help="show the schema revision")
    current.set_defaults(handler=run_current)
    make = actions.add_parser(
        "backup",
        parents=[common],
        help="copy a SQLite store consistently, even while Chorus is running",
    )
    make.add_argument("file", metavar="FILE", type=Path, help="where to write the copy")
    make.set_defaults(handler=run_backup)
    put_back = actions.add_parser(
        "restore",
        parents=[common],
        help="put a backup back in place of the SQLite store (Chorus must be stopped)",
    )
    put_back.add_argument("file", metavar="FILE", type=Path, help="a file `db backup` wrote")
    put_back.set_defaults(handler=run_restore)


def _rows(counts: dict[str, int]) -> str:
    keys = ("participants", "contributions", "votes")
    return ", ".join(f"{counts[key]:,} {key}" for key in keys if key in counts)


def run_backup(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    try:
        made = backup(settings.env.database_url, args.file)
    except BackupError as error:
        print(f"chorus: {error}", file=sys.stderr)
        return 1
    print(f"backed up the store to {made['path']} ({made['bytes']:,} bytes; {_rows(made['rows'])})")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    try:
        done = restore(settings.env.database_url, args.file)
    except BackupError as error:
        print(f"chorus: {error}", file=sys.stderr)
        return 1
    kept = f"; the store it replaced is kept as {done['previous']}" if done["previous"] else ""
    print(f"restored {args.file} into {done['path']} ({_rows(done['rows'])}){kept}")
    return 0


async def _upgrade(url: str) -> dict:
    store = Store.connect(url)
    try:
        await store.upgrade()
        return await store.health()
    finally:
        await store.close()


async def _health(url: str) -> dict:
    store = Store.connect(url)
    try:
        return await store.health()
    finally:
        await store.close()


def run_upgrade(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    state = asyncio.run(_upgrade(settings.env.database_url))
    print(f"store ({state['backend']}) is at revision {state['revision']}")
    return 0


def run_current(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    state = asyncio.run(_health(settings.env.database_url))
    if "error" in state:
        print(
            f"chorus: the store ({state['backend']}) cannot be reached: {state['error']}",
            file=sys.stderr,
        )
        return 3
    note = "" if state["ok"] else f" (Chorus needs {state['expected_revision']})"
    print(f"store ({state['backend']}) is at revision {state['revision'] or 'none'}{note}")
    return 0 if state["ok"] else 1
