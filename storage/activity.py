"""What one person did recently, for the limits per person (handlers/limits.py), and
whether they already shared an idea with the same text. Plain reads on the batch
writer's synchronous connection (storage/batch.py `Reader`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, func, select

from storage.driver_sql import DriverStatement
from storage.tables import CONTRIBUTIONS, VOTES

C = CONTRIBUTIONS.c
# Built once and run on the driver's cursor (storage/driver_sql.py): a statement built
# at each call costs more to compile than to run.
CONTRIBUTIONS_SINCE = DriverStatement(
    select(func.count())
    .select_from(CONTRIBUTIONS)
    .where(
        C.participant_id == bindparam("person"),
        C.kind == bindparam("kind"),
        C.created_at >= bindparam("since"),
    )
)
VOTES_SINCE = DriverStatement(
    select(func.count())
    .select_from(VOTES)
    .where(VOTES.c.participant_id == bindparam("person"), VOTES.c.updated_at >= bindparam("since"))
)
SAME_IDEA = DriverStatement(
    select(C.id, C.idea_number)
    .where(C.participant_id == bindparam("person"), C.kind == "idea", C.text == bindparam("text"))
    .order_by(C.id)
    .limit(1)
)


def contributions_since(
    connection: Connection, participant_id: int, kind: str, since: datetime
) -> int:
    params = {"person": participant_id, "kind": kind, "since": since}
    return CONTRIBUTIONS_SINCE.scalar(connection, params) or 0


def votes_since(connection: Connection, participant_id: int, since: datetime) -> int:
    return VOTES_SINCE.scalar(connection, {"person": participant_id, "since": since}) or 0


def same_idea(connection: Connection, participant_id: int, text: str) -> int | None:
    """The number people see of this person's idea with exactly this (stored) text."""
    rows = SAME_IDEA.rows(connection, {"person": participant_id, "text": text})
    if not rows:
        return None
    return rows[0].idea_number if rows[0].idea_number is not None else rows[0].id
