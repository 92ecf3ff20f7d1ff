"""`chorus db upgrade`: bring the store's schema to this version (Alembic)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.config import load_settings
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
