"""What one person did recently, for the limits per person (handlers/limits.py), and
whether they already shared an idea with the same text. Plain reads on the batch
writer's synchronous connection (storage/batch.py `Reader`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, func, select

from storage.tables import CONTRIBUTIONS, VOTES

C = CONTRIBUTIONS.c
# Built once: a statement built at each call costs more to compile than to run.
CONTRIBUTIONS_SINCE = (
    select(func.count())
    .select_from(CONTRIBUTIONS)
    .where(
        C.participant_id == bindparam("person"),
        C.kind == bindparam("kind"),
        C.created_at >= bindparam("since"),
    )
)
VOTES_SINCE = (
    select(func.count())
    .select_from(VOTES)
    .where(VOTES.c.participant_id == bindparam("person"), VOTES.c.updated_at >= bindparam("since"))
)
SAME_IDEA = (
    select(C.id, C.idea_number)
    .where(C.participant_id == bindparam("person"), C.kind == "idea", C.text == bindparam("text"))
    .order_by(C.id)
    .limit(1)
)


def contributions_since(
    connection: Connection, participant_id: int, kind: str, since: datetime
) -> int:
    params = {"person": participant_id, "kind": kind, "since": since}
    return connection.scalar(CONTRIBUTIONS_SINCE, params) or 0


def votes_since(connection: Connection, participant_id: int, since: datetime) -> int:
    return connection.scalar(VOTES_SINCE, {"person": participant_id, "since": since}) or 0


def same_idea(connection: Connection, participant_id: int, text: str) -> int | None:
    """The number people see of this person's idea with exactly this (stored) text."""
    row = connection.execute(SAME_IDEA, {"person": participant_id, "text": text}).first()
    if row is None:
        return None
    return row.idea_number if row.idea_number is not None else row.id
