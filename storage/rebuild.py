"""The team's aggregates computed from scratch, in SQL: for the migration that adds them
to a store that already has data, for the benchmark's bulk-loaded store, and as the
reference the incrementally kept tallies (storage/tallies.py) are tested against.

`rebuild_statements` is plain SQL over the base tables, run on a synchronous or an
async connection alike. Idea scores need the role groups from the config, so they are
recomputed by `rebuild_idea_scores` at start whenever those groups change.
"""

from __future__ import annotations

from sqlalchemy import (
    Date,
    Integer,
    String,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from storage.grouping import Grouping
from storage.models import (
    ActivityCount,
    Contribution,
    IdeaRoleTally,
    IdeaScore,
    Participation,
    Vote,
)
from storage.tallies import ANY_QUESTION, NO_QUESTION, NOT_GIVEN, Tallies, score_row

SCORE_BATCH = 5000


def day_expression(column, backend: str):
    """The UTC calendar day of a timestamp column, as the store keeps it in a Date."""
    if backend == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def _given(column):
    return func.coalesce(column, NOT_GIVEN)


def _activity_select(backend: str):
    c, v = Contribution, Vote
    c_day = day_expression(c.created_at, backend)
    v_day = day_expression(v.created_at, backend)
    c_question = func.coalesce(c.question_id, NO_QUESTION)
    contribution_values = {
        "channel": c.channel,
        "label": c.label,
        "language": _given(c.language),
        "status": c.status,
        "role": _given(c.role),
        "region": _given(c.region),
        "age_band": _given(c.age_band),
        "role_label": _given(c.role) + literal("|") + c.label,
    }
    vote_values = {
        "channel": v.channel,
        "value": cast(v.value, String),
        "role": _given(v.role),
        "region": _given(v.region),
        "age_band": _given(v.age_band),
    }
    parts = [
        select(
            c_day.label("day"),
            c_question.label("question_id"),
            c.kind.label("kind"),
            literal(dimension).label("dimension"),
            value.label("value"),
            func.count().label("count"),
        ).group_by(c_day, c_question, c.kind, value)
        for dimension, value in contribution_values.items()
    ]
    parts += [
        select(
            v_day.label("day"),
            c_question.label("question_id"),
            literal("vote").label("kind"),
            literal(dimension).label("dimension"),
            value.label("value"),
            func.count().label("count"),
        )
        .join(c, c.id == v.contribution_id)
        .group_by(v_day, c_question, value)
        for dimension, value in vote_values.items()
    ]
    return union_all(*parts)


def _actions_subquery(backend: str):
    """Every contribution and vote as (person, question, channel, profile, day)."""
    c, v = Contribution, Vote
    contributions = select(
        c.participant_id.label("participant_id"),
        c.question_id.label("question_id"),
        c.channel.label("channel"),
        _given(c.role).label("role"),
        _given(c.region).label("region"),
        _given(c.age_band).label("age_band"),
        day_expression(c.created_at, backend).label("day"),
    )
    votes = select(
        v.participant_id,
        c.question_id,
        v.channel,
        _given(v.role),
        _given(v.region),
        _given(v.age_band),
        day_expression(v.created_at, backend),
    ).join(c, c.id == v.contribution_id)
    return union_all(contributions, votes).subquery("actions")


def _participation_select(backend: str, *, per_question: bool):
    actions = _actions_subquery(backend)
    question = actions.c.question_id if per_question else literal(ANY_QUESTION, Integer)
    key = (
        actions.c.participant_id,
        question,
        actions.c.channel,
        actions.c.role,
        actions.c.region,
        actions.c.age_band,
    )
    query = select(*key, func.count(), func.min(actions.c.day), func.max(actions.c.day)).group_by(
        *key
    )
    if per_question:
        query = query.where(actions.c.question_id.is_not(None))
    return query


def _role_tallies_select():
    v = Vote
    role = _given(v.role)

    def count_of(value: int):
        return func.coalesce(func.sum(cast(v.value == value, Integer)), 0)

    return select(v.contribution_id, role, count_of(1), count_of(-1), count_of(0)).group_by(
        v.contribution_id, role
    )


def rebuild_statements(backend: str) -> list[Executable]:
    """Empty and refill activity counts, participation and per-role tallies."""
    participation_columns = [
        "participant_id",
        "question_id",
        "channel",
        "role",
        "region",
        "age_band",
        "actions",
        "first_day",
        "last_day",
    ]
    return [
        delete(ActivityCount),
        delete(Participation),
        delete(IdeaRoleTally),
        insert(ActivityCount).from_select(
            ["day", "question_id", "kind", "dimension", "value", "count"],
            _activity_select(backend),
        ),
        insert(Participation).from_select(
            participation_columns, _participation_select(backend, per_question=True)
        ),
        insert(Participation).from_select(
            participation_columns, _participation_select(backend, per_question=False)
        ),
        insert(IdeaRoleTally).from_select(
            ["contribution_id", "role", "agree", "disagree", "skip"], _role_tallies_select()
        ),
    ]


async def rebuild_aggregates(session: AsyncSession, backend: str, grouping: Grouping) -> None:
    for statement in rebuild_statements(backend):
        await session.execute(statement)
    await rebuild_idea_scores(session, backend, grouping)


async def rebuild_idea_scores(session: AsyncSession, backend: str, grouping: Grouping) -> int:
    """Recompute every idea's controversy and consensus, in batches of ideas."""
    await session.execute(delete(IdeaScore))
    tallies = Tallies(session, backend, grouping)
    after, done = 0, 0
    while True:
        ideas = (
            await session.execute(
                select(Contribution.id, Contribution.agree_count, Contribution.disagree_count)
                .where(
                    Contribution.kind == "idea",
                    Contribution.vote_count > 0,
                    Contribution.id > after,
                )
                .order_by(Contribution.id)
                .limit(SCORE_BATCH)
            )
        ).all()
        if not ideas:
            return done
        first, last = ideas[0][0], ideas[-1][0]
        by_idea: dict[int, list[tuple[str, int, int]]] = {}
        for idea, role, agree, disagree in await session.execute(
            select(
                IdeaRoleTally.contribution_id,
                IdeaRoleTally.role,
                IdeaRoleTally.agree,
                IdeaRoleTally.disagree,
            ).where(IdeaRoleTally.contribution_id.between(first, last))
        ):
            by_idea.setdefault(idea, []).append((role, agree, disagree))
        await tallies.write_scores(
            [score_row(i, a, d, by_idea.get(i, ()), grouping) for i, a, d in ideas]
        )
        after, done = last, done + len(ideas)
