"""Alembic, driven from code: the schema revision of a connection and upgrading it.

Both functions take a synchronous connection, so they run inside
`AsyncConnection.run_sync` on Chorus's own event loop (Alembic's cookbook recipe for
sharing a connection with asyncio).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache  # the migrations cannot change while Chorus runs; /healthz asks on every call
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(connection: Connection) -> tuple[str | None, str | None]:
    """Apply every pending migration; returns the revisions before and after."""
    before = current_revision(connection)
    command.upgrade(alembic_config(connection), "head")
    return before, current_revision(connection)
