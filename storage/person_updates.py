"""The batch's participant UPDATEs, held back and written together: one `executemany` per
set of columns changed, at the end of the batch or as soon as anything in the
transaction reads a participant's row again.

On PostgreSQL each statement is a round trip (asyncpg pipelines an `executemany` in
one), and nearly every message changes its person's step. Nothing in the batch reads
another person's row, and a later message of the same person reads theirs afresh
(storage/batch.py), so holding the writes back changes nothing that is read. A batch
applied again with a savepoint per message writes each at once, inside its message's
savepoint.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Connection, bindparam, update

from storage.driver_sql import DriverStatement
from storage.tables import PARTICIPANTS


@cache
def person_update(columns: frozenset[str]) -> DriverStatement:
    """UPDATE one participant (`k_id`) setting these columns (`v_<name>`)."""
    return DriverStatement(
        update(PARTICIPANTS)
        .where(PARTICIPANTS.c.id == bindparam("k_id"))
        .values({name: bindparam(f"v_{name}") for name in sorted(columns)})
    )


class HeldUpdates:
    """Participant UPDATEs of one batch; `hold=False` writes each at once."""

    def __init__(self, write: Connection, *, hold: bool) -> None:
        self._write = write
        self._hold = hold
        self._held: dict[frozenset[str], list[dict[str, Any]]] = {}

    def add(self, columns: frozenset[str], params: dict[str, Any]) -> None:
        if self._hold:
            self._held.setdefault(columns, []).append(params)
        else:
            person_update(columns).execute(self._write, params)

    def write_held(self) -> None:
        """Write what is held: before a participant's row is read in the transaction, and
        before the batch commits."""
        held, self._held = self._held, {}
        for columns, rows in held.items():
            person_update(columns).execute_many(self._write, rows)
