"""What one person did recently, for the limits per person (handlers/limits.py), and
whether they already shared an idea with the same text. Plain reads on the batch
writer's synchronous connection (storage/batch.py `Reader`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from storage.models import Contribution, Vote

CONTRIBUTIONS = Contribution.__table__
VOTES = Vote.__table__


def contributions_since(
    connection: Connection, participant_id: int, kind: str, since: datetime
) -> int:
    c = CONTRIBUTIONS.c
    query = (
        select(func.count())
        .select_from(CONTRIBUTIONS)
        .where(c.participant_id == participant_id, c.kind == kind, c.created_at >= since)
    )
    return connection.scalar(query) or 0


def votes_since(connection: Connection, participant_id: int, since: datetime) -> int:
    v = VOTES.c
    query = (
        select(func.count())
        .select_from(VOTES)
        .where(v.participant_id == participant_id, v.updated_at >= since)
    )
    return connection.scalar(query) or 0


def same_idea(connection: Connection, participant_id: int, text: str) -> int | None:
    """The number people see of this person's idea with exactly this (stored) text."""
    c = CONTRIBUTIONS.c
    row = connection.execute(
        select(c.id, c.idea_number)
        .where(c.participant_id == participant_id, c.kind == "idea", c.text == text)
        .order_by(c.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    return row.idea_number if row.idea_number is not None else row.id
