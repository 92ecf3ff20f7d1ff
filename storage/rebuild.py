"""The team's aggregates computed from scratch, in SQL: for the migration that adds them
to a store that already has data, for the benchmark's bulk-loaded store, and as the
reference the incrementally kept tallies (storage/tallies.py) are tested against.

`rebuild_statements` is plain SQL over the base tables, run on a synchronous or an
async connection alike. What depends on the role groups in config.yaml (idea scores,
people per role group) is recomputed at start whenever those groups change.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import CreateTable, DropTable
from sqlalchemy.sql import Executable

from storage.grouping import Grouping, group_case
from storage.models import (
    ActivityCount,
    Contribution,
    IdeaRoleTally,
    IdeaScore,
    Participation,
    Vote,
    VoteHour,
)
from storage.tallies import Tallies, score_row
from storage.tally_keys import (
    ANY_QUESTION,
    CONFIDENT_AT,
    NO_QUESTION,
    NOT_GIVEN,
    PAIRED_WITH_CHANNEL,
    UNSURE,
)

SCORE_BATCH = 5000
ROLE_GROUP_DIMENSIONS = ("role_group", "role_group+channel")


def day_expression(column: Any, backend: str) -> Any:
    """The UTC calendar day of a timestamp column, as the store keeps it in a Date."""
    if backend == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def hour_expression(column: Any, backend: str) -> Any:
    """Hours since 1970 (UTC) of a timestamp column, as storage.tallies.hour_of."""
    if backend == "postgresql":
        return cast(func.floor(func.extract("epoch", column) / 3600), Integer)
    return cast(func.strftime("%s", column), Integer) / 3600


def _vote_hours_select(backend: str) -> Any:
    hour = hour_expression(Vote.created_at, backend)
    question = func.coalesce(Contribution.question_id, NO_QUESTION)
    return (
        select(hour, question, func.count())
        .select_from(Vote)
        .join(Contribution, Contribution.id == Vote.contribution_id)
        .group_by(hour, question)
    )


def _given(column: Any) -> Any:
    return func.coalesce(column, NOT_GIVEN)


def _confident_label(c: Any) -> Any:
    """storage.tally_keys.confident_label, in SQL."""
    return case(
        (c.sentiment_confidence.is_(None), literal(NOT_GIVEN)),
        (c.sentiment_confidence >= CONFIDENT_AT, c.label),
        else_=literal(UNSURE),
    )


def _activity_select(
    backend: str, only: Collection[str] | None = None, skip: Collection[str] = ()
) -> Any:
    """Every activity count; `only`: only these dimensions of the contributions' (and none
    of the votes'); `skip`: all but these of the contributions'."""
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
        "confident_label": _confident_label(c),
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
        if (only is None or dimension in only) and dimension not in skip
    ]
    if only is not None:
        return union_all(*parts)
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


def _actions_subquery(backend: str) -> Any:
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


def _profiles_table() -> Table:
    """A temporary table of each person's actions per question and answers-as-they-were:
    millions of actions grouped once, then counted by each dimension from there."""
    return Table(
        "participation_profiles",
        MetaData(),
        Column("participant_id", BigInteger),
        Column("question_id", Integer),
        Column("channel", String(16)),
        Column("role", String(64)),
        Column("region", String(64)),
        Column("age_band", String(64)),
        Column("actions", Integer),
        Column("first_day", Date),
        Column("last_day", Date),
        prefixes=["TEMPORARY"],
    )


def _fill_profiles(profiles: Table, backend: str) -> Any:
    actions = _actions_subquery(backend)
    key = [
        actions.c.participant_id,
        actions.c.question_id,
        actions.c.channel,
        actions.c.role,
        actions.c.region,
        actions.c.age_band,
    ]
    return insert(profiles).from_select(
        [column.name for column in profiles.columns],
        select(*key, func.count(), func.min(actions.c.day), func.max(actions.c.day)).group_by(*key),
    )


def _person_values(profiles: Table, grouping: Grouping) -> dict:
    """The SQL twin of storage.tallies.person_values."""
    p = profiles.c
    values = {
        "person": literal(NOT_GIVEN, String),
        "channel": p.channel,
        "role": p.role,
        "role_group": group_case(p.role, grouping),
        "region": p.region,
        "age_band": p.age_band,
    }
    for dimension in PAIRED_WITH_CHANNEL:
        values[f"{dimension}+channel"] = values[dimension] + literal("|") + p.channel
    return values


def _participation_inserts(
    profiles: Table, grouping: Grouping, dimensions: tuple[str, ...] | None = None
) -> list[Executable]:
    p = profiles.c
    statements: list[Executable] = []
    for dimension, value in _person_values(profiles, grouping).items():
        if dimensions is not None and dimension not in dimensions:
            continue
        for per_question in (True, False):
            question = p.question_id if per_question else literal(ANY_QUESTION, Integer)
            query = select(
                question,
                literal(dimension, String),
                value,
                p.participant_id,
                func.sum(p.actions),
                func.min(p.first_day),
                func.max(p.last_day),
            ).group_by(question, value, p.participant_id)
            if per_question:
                query = query.where(p.question_id.is_not(None))
            statements.append(
                insert(Participation).from_select(
                    [
                        "question_id",
                        "dimension",
                        "value",
                        "participant_id",
                        "actions",
                        "first_day",
                        "last_day",
                    ],
                    query,
                )  # fmt: skip
            )
    return statements


def participation_statements(
    backend: str, grouping: Grouping, dimensions: tuple[str, ...] | None = None
) -> list[Executable]:
    """Refill `participation` (or only some of its dimensions) from the base tables."""
    profiles = _profiles_table()
    clear = delete(Participation)
    if dimensions is not None:
        clear = clear.where(Participation.dimension.in_(dimensions))
    return [
        clear,
        CreateTable(profiles),
        _fill_profiles(profiles, backend),
        *_participation_inserts(profiles, grouping, dimensions),
        DropTable(profiles),
    ]


def _role_tallies_select() -> Any:
    v = Vote
    role = _given(v.role)

    def count_of(value: int) -> Any:
        return func.coalesce(func.sum(cast(v.value == value, Integer)), 0)

    return select(v.contribution_id, role, count_of(1), count_of(-1), count_of(0)).group_by(
        v.contribution_id, role
    )


def rebuild_statements(
    backend: str, grouping: Grouping | None = None, *, skip: Collection[str] = ()
) -> list[Executable]:
    """Empty and refill activity counts, vote hours, participation and per-role tallies. Without a
    grouping each role is its own group; `rebuild_role_groups` corrects that at start.
    `skip`: contribution dimensions left out (those a later migration adds)."""
    return [
        delete(ActivityCount),
        delete(VoteHour),
        delete(IdeaRoleTally),
        insert(ActivityCount).from_select(
            ["day", "question_id", "kind", "dimension", "value", "count"],
            _activity_select(backend, skip=skip),
        ),
        insert(VoteHour).from_select(["hour", "question_id", "count"], _vote_hours_select(backend)),
        *participation_statements(backend, grouping or Grouping()),
        insert(IdeaRoleTally).from_select(
            ["contribution_id", "role", "agree", "disagree", "skip"], _role_tallies_select()
        ),
    ]


def activity_dimension_statements(backend: str, dimension: str) -> list[Executable]:
    """Empty and refill one dimension of the contributions' activity counts: for the
    migration that adds the dimension to a store that already has data."""
    return [
        delete(ActivityCount).where(ActivityCount.dimension == dimension),
        insert(ActivityCount).from_select(
            ["day", "question_id", "kind", "dimension", "value", "count"],
            _activity_select(backend, only=(dimension,)),
        ),
    ]


async def rebuild_role_groups(session: AsyncSession, backend: str, grouping: Grouping) -> None:
    """Recount the people in each role group, for new role groups from the config."""
    for statement in participation_statements(backend, grouping, ROLE_GROUP_DIMENSIONS):
        await session.execute(statement)


async def rebuild_aggregates(session: AsyncSession, backend: str, grouping: Grouping) -> None:
    for statement in rebuild_statements(backend, grouping):
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
                select(
                    Contribution.id,
                    Contribution.agree_count,
                    Contribution.disagree_count,
                    Contribution.question_id,
                    Contribution.created_at,
                )
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
            [
                score_row(i, a, d, by_idea.get(i, ()), grouping)
                | {"question_id": q, "created_at": created}
                for i, a, d, q, created in ideas
            ]
        )
        after, done = last, done + len(ideas)
