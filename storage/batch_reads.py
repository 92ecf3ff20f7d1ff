"""What a decision may read while the batch writer holds its connection: a person's
snapshot, ideas, voting candidates, recent activity (for the limits), with statements
built once. `Reader` is handed to the flows' reads (handlers/conversation.py)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Integer,
    Select,
    bindparam,
    exists,
    func,
    select,
)

from storage import activity as recent
from storage.contributions import contribution_record
from storage.driver_sql import DriverStatement
from storage.models import (
    Contribution,
    Participant,
)
from storage.participants import participant_record
from storage.records import ContributionRecord, ParticipantActivity, ParticipantRecord
from storage.tables import CONTRIBUTIONS, PARTICIPANTS, VOTES
from storage.value_lists import one_of, values_of

# --- statements, built once and run on the driver's cursor (storage/driver_sql.py):
# building a statement, and SQLAlchemy's work at each execution, cost more than running
# it on SQLite --------------------------------------------------------------------------

PERSON_BY_PSEUDONYM = DriverStatement(
    select(PARTICIPANTS).where(PARTICIPANTS.c.pseudonym == bindparam("p"))
)
# A batch's people: the pseudonyms bound as one value (storage/value_lists.py).
PEOPLE_BY_PSEUDONYM = DriverStatement(
    lambda backend: select(PARTICIPANTS).where(one_of(PARTICIPANTS.c.pseudonym, "ps", backend))
)
CONTRIBUTION_BY_ID = DriverStatement(
    select(CONTRIBUTIONS).where(CONTRIBUTIONS.c.id == bindparam("id"))
)
IDEA_BY_NUMBER = DriverStatement(
    select(CONTRIBUTIONS).where(CONTRIBUTIONS.c.idea_number == bindparam("n"))
)
IDEAS_AFTER = DriverStatement(
    select(CONTRIBUTIONS.c.id, CONTRIBUTIONS.c.text)
    .where(
        CONTRIBUTIONS.c.question_id == bindparam("question"),
        CONTRIBUTIONS.c.kind == "idea",
        CONTRIBUTIONS.c.id > bindparam("after"),
    )
    .order_by(CONTRIBUTIONS.c.id)
    .limit(bindparam("limit", type_=Integer))
)


@cache
def _candidates(with_exclusions: bool, pool: int) -> DriverStatement:
    return DriverStatement(lambda backend: _candidates_query(with_exclusions, pool, backend))


def voting_pool(backend: str) -> Select[Any]:
    """The ideas of the questions bound as "questions" that anyone may vote on, least
    voted first (storage/grouped_reads.py reads it for a whole batch)."""
    c = CONTRIBUTIONS.c
    return (
        select(CONTRIBUTIONS)
        .where(
            c.kind == "idea",
            c.status == "visible",
            c.duplicate_of.is_(None),
            one_of(c.question_id, "questions", backend),
        )
        .order_by(c.vote_count, c.id)
    )


def _candidates_query(with_exclusions: bool, pool: int, backend: str) -> Select[Any]:
    c = CONTRIBUTIONS.c
    already_voted = exists().where(
        VOTES.c.contribution_id == c.id, VOTES.c.participant_id == bindparam("person")
    )
    query = (
        voting_pool(backend)
        .where(c.participant_id != bindparam("person"), ~already_voted)
        .limit(pool)
    )
    if with_exclusions:
        query = query.where(~one_of(c.id, "exclude", backend))
    return query


# --- reads ---------------------------------------------------------------------------


def _person(row: tuple[Any, ...]) -> ParticipantRecord:
    # A Core row has the ORM object's attribute names: one mapping serves both.
    return participant_record(cast(Participant, row))


def least_voted(rows: Sequence[Any]) -> tuple[ContributionRecord, ...]:
    """Of a person's candidate rows, least voted first, those within one vote of the
    least voted: the ideas the flow draws from."""
    if not rows:
        return ()
    fewest = rows[0].vote_count
    return tuple(contribution_of(r) for r in rows if r.vote_count <= fewest + 1)


def contribution_of(row: tuple[Any, ...]) -> ContributionRecord:
    # A Core row has the ORM object's attribute names: one mapping serves both.
    return contribution_record(cast(Contribution, row))


class Reader:
    """What a decision may read, on a synchronous connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def person(self, pseudonym: str) -> ParticipantRecord | None:
        rows = PERSON_BY_PSEUDONYM.rows(self.connection, {"p": pseudonym})
        return _person(rows[0]) if rows else None

    def people(self, pseudonyms: Collection[str]) -> dict[str, ParticipantRecord]:
        """The participants among these pseudonyms, in one statement (no key: no row)."""
        if not pseudonyms:
            return {}
        backend = self.connection.dialect.name
        values = values_of(sorted(pseudonyms), backend)
        rows = PEOPLE_BY_PSEUDONYM.rows(self.connection, {"ps": values})
        return {row.pseudonym: _person(row) for row in rows}

    def contribution(self, contribution_id: int) -> ContributionRecord | None:
        rows = CONTRIBUTION_BY_ID.rows(self.connection, {"id": contribution_id})
        return contribution_of(rows[0]) if rows else None

    def idea_by_number(self, number: int) -> ContributionRecord | None:
        rows = IDEA_BY_NUMBER.rows(self.connection, {"n": number})
        return contribution_of(rows[0]) if rows else None

    def ideas_of_question(
        self, question_id: int, after_id: int, limit: int = 50_000
    ) -> list[tuple[int, str]]:
        """(id, text) of the question's ideas with an id above `after_id`, oldest first,
        whatever their status (see handlers/likeness_cache.py, which checks it on use)."""
        params = {"question": question_id, "after": after_id, "limit": limit}
        return [(row.id, row.text) for row in IDEAS_AFTER.rows(self.connection, params)]

    def voting_candidates(
        self,
        participant_id: int,
        question_ids: Collection[int],
        exclude: Collection[int],
        pool: int,
    ) -> tuple[ContributionRecord, ...]:
        """The least-voted ideas this person may vote on (see Contributions.next_for_voting,
        whose random draw among them the flow makes)."""
        if not question_ids:
            return ()
        backend = self.connection.dialect.name
        params = {"person": participant_id, "questions": values_of(question_ids, backend)}
        if exclude:
            params["exclude"] = values_of(exclude, backend)
        return least_voted(_candidates(bool(exclude), pool).rows(self.connection, params))

    def contributions_since(self, participant_id: int, kind: str, since: datetime) -> int:
        return recent.contributions_since(self.connection, participant_id, kind, since)

    def votes_since(self, participant_id: int, since: datetime) -> int:
        return recent.votes_since(self.connection, participant_id, since)

    def same_idea(self, participant_id: int, text: str) -> int | None:
        return recent.same_idea(self.connection, participant_id, text)

    def activity(self, participant_id: int, *, recent: int = 3) -> ParticipantActivity:
        c = CONTRIBUTIONS.c
        counts: dict[str, int] = dict(
            self.connection.execute(
                select(c.kind, func.count())
                .where(c.participant_id == participant_id)
                .group_by(c.kind)
            ).all()
        )
        votes = self.connection.scalar(
            select(func.count()).select_from(VOTES).where(VOTES.c.participant_id == participant_id)
        )
        texts = self.connection.scalars(
            select(c.text)
            .where(c.participant_id == participant_id, c.kind == "idea")
            .order_by(c.id.desc())
            .limit(recent)
        )
        return ParticipantActivity(
            ideas=counts.get("idea", 0),
            comments=counts.get("comment", 0),
            votes=votes or 0,
            recent_ideas=tuple(texts),
        )


def ideas_page(
    connection: Connection, question_id: int, after_id: int, limit: int
) -> list[tuple[int, str]]:
    """`Reader.ideas_of_question` for `AsyncConnection.run_sync` (warming an index)."""
    return Reader(connection).ideas_of_question(question_id, after_id, limit)
