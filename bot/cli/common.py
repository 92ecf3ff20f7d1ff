"""Helpers the sub-commands share: opening the store for one command and printing JSON."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime

from bot.channels import check_sections, declarations, media
from bot.config import load_settings
from bot.services import Services, open_services


@asynccontextmanager
async def services_for(config_path: str, *, warm_up: bool = True) -> AsyncIterator[Services]:
    settings = load_settings(config_path)
    # Every command checks the channels' sections as `chorus run` does: a mistake there
    # is named by the first command that reads the file, not by the server's start.
    check_sections(settings, declarations())
    services = await open_services(settings, warm_up=warm_up, channel_media=media())
    try:
        yield services
    finally:
        await services.close()


def cli_actor() -> str:
    """Who ran a command, for the audit log: the operating-system user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (KeyError, OSError):
        return "cli"


def _default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def to_json(data: object, *, indent: int | None = 2) -> str:
    return json.dumps(data, ensure_ascii=False, indent=indent, default=_default)
