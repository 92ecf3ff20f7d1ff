"""The team's aggregates, kept in step with contributions and votes in the same transaction.

Reports must answer in under a second over millions of votes, so they never count the
votes table. Instead every change to a contribution or vote passes through `Tallies`,
which adjusts, in one place:

- `activity_counts`: contributions and votes per day, question and dimension;
- `vote_hours`: votes per hour and question, for the rolling last 24 hours;
- `participation`: who took part as whom (the answers as they were when they acted),
  one row per question, dimension, answer and person;
- `idea_role_tallies`: each idea's votes by the voters' role at the time;
- `idea_scores`: each idea's controversy and consensus (see storage/scoring.py).

Changes are described as facts (what the row said before and after), turned into keys,
and the difference is applied with one upsert per table. `storage/rebuild.py` computes
the same tables from scratch; tests check the two always agree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import cache
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.driver_sql import DriverStatement
from storage.grouping import Grouping, consensus_of
from storage.models import (
    ActivityCount,
    Contribution,
    IdeaRoleTally,
    IdeaScore,
    Participation,
    Vote,
    VoteHour,
)
from storage.scoring import controversy, wilson_lower_bound
from storage.tables import CONTRIBUTIONS
from storage.tally_keys import (
    NO_QUESTION,
    NOT_GIVEN,
    VALUE_COLUMN,
    ActivityKey,
    ContributionFacts,
    PersonKey,
    VoteFacts,
)
from storage.value_lists import one_of, values_of

# An idea's own count column for each vote value (agree 1, disagree -1, skip 0).
IDEA_COUNT_COLUMN = {1: "agree_count", -1: "disagree_count", 0: "skip_count"}


# An idea's counts as its score needs them: (agree, disagree, question_id, created_at).
IdeaCounts = tuple[int, int, int | None, Any]


async def adjust_ideas(
    session: AsyncSession, backend: str, deltas: Mapping[int, Mapping[int, int]]
) -> dict[int, IdeaCounts]:
    """Add each idea's delta (vote value -> change in count) to its own tallies and
    rescore it: one read and one write (run for every idea) whatever their number.
    Returns the ideas' counts as they now stand, so that their controversy and consensus
    are worked out without reading them again (`Tallies.refresh_idea_scores`).

    The rows are read under lock, in id order, and each written once: on PostgreSQL a
    second UPDATE of a row this transaction already updated re-checks its foreign keys,
    locking the author's participant row too, and that made concurrent voters deadlock."""
    changes = {idea: delta for idea, delta in sorted(deltas.items()) if any(delta.values())}
    if not changes:
        return {}
    ideas = values_of(list(changes), backend)
    rows = await session.run_sync(lambda on: IDEAS_COUNTS.rows(on, {"ideas": ideas}))
    params = []
    counted: dict[int, IdeaCounts] = {}
    for idea, agree, disagree, question, created, kind in rows:
        delta = changes[idea]
        added = [delta.get(value, 0) for value in (1, -1, 0)]
        agree, disagree = agree + added[0], disagree + added[1]
        params.append(
            {"k_id": idea, "v_agree": added[0], "v_disagree": added[1], "v_skip": added[2],
             "v_seen": sum(added), "v_score": wilson_lower_bound(agree, disagree)}
        )  # fmt: skip
        if kind == "idea":
            counted[idea] = (agree, disagree, question, created)
    if params:
        await session.run_sync(lambda on: ADD_TO_IDEAS.execute_many(on, params))
    return counted


@cache
def _ideas_counts(backend: str) -> Any:
    c = CONTRIBUTIONS.c
    return (
        select(c.id, c.agree_count, c.disagree_count, c.question_id, c.created_at, c.kind)
        .where(one_of(c.id, "ideas", backend))
        .order_by(c.id)
        .with_for_update(key_share=True)
    )


IDEAS_COUNTS = DriverStatement(_ideas_counts)
ADD_TO_IDEAS = DriverStatement(
    update(CONTRIBUTIONS)
    .where(CONTRIBUTIONS.c.id == bindparam("k_id"))
    .values(
        agree_count=CONTRIBUTIONS.c.agree_count + bindparam("v_agree"),
        disagree_count=CONTRIBUTIONS.c.disagree_count + bindparam("v_disagree"),
        skip_count=CONTRIBUTIONS.c.skip_count + bindparam("v_skip"),
        vote_count=CONTRIBUTIONS.c.vote_count + bindparam("v_seen"),
        score=bindparam("v_score"),
    )
)


def _insert(backend: str) -> Any:
    return postgresql.insert if backend == "postgresql" else sqlite.insert


def _greatest(backend: str) -> Any:
    return func.greatest if backend == "postgresql" else func.max


def _least(backend: str) -> Any:
    return func.least if backend == "postgresql" else func.min


# --- upserts, built once per backend (a statement built afresh at every flush costs more
# to compile than to run on SQLite; these bind new rows each time) ---------------------


@cache
def _activity_upsert(backend: str) -> Any:
    table = cast(Table, ActivityCount.__table__)
    statement = _insert(backend)(table)
    return statement.on_conflict_do_update(
        index_elements=["day", "question_id", "kind", "dimension", "value"],
        set_={"count": table.c.count + statement.excluded.count},
    )


@cache
def _hours_upsert(backend: str) -> Any:
    table = cast(Table, VoteHour.__table__)
    statement = _insert(backend)(table)
    return statement.on_conflict_do_update(
        index_elements=["hour", "question_id"],
        set_={"count": table.c.count + statement.excluded.count},
    )


@cache
def _participation_upsert(backend: str) -> Any:
    table = cast(Table, Participation.__table__)
    statement = _insert(backend)(table)
    return statement.on_conflict_do_update(
        index_elements=["question_id", "dimension", "value", "participant_id"],
        set_={
            "actions": table.c.actions + statement.excluded.actions,
            "first_day": _least(backend)(table.c.first_day, statement.excluded.first_day),
            "last_day": _greatest(backend)(table.c.last_day, statement.excluded.last_day),
        },
    )


@cache
def _role_upsert(backend: str) -> Any:
    table = cast(Table, IdeaRoleTally.__table__)
    statement = _insert(backend)(table)
    return statement.on_conflict_do_update(
        index_elements=["contribution_id", "role"],
        set_={
            name: table.c[name] + getattr(statement.excluded, name)
            for name in ("agree", "disagree", "skip")
        },
    )


@cache
def _score_upsert(backend: str) -> Any:
    statement = _insert(backend)(cast(Table, IdeaScore.__table__))
    return statement.on_conflict_do_update(
        index_elements=["contribution_id"],
        set_={
            name: getattr(statement.excluded, name)
            for name in ("controversy", "consensus", "consensus_groups", "consensus_votes")
        },
    )


# Run on the driver's cursor (storage/driver_sql.py): thousands of rows a second.
ACTIVITY_UPSERT = DriverStatement(_activity_upsert)
HOURS_UPSERT = DriverStatement(_hours_upsert)
PARTICIPATION_UPSERT = DriverStatement(_participation_upsert)
ROLE_UPSERT = DriverStatement(_role_upsert)
SCORE_UPSERT = DriverStatement(_score_upsert)


class Tallies:
    """Applies changes of contributions and votes to every aggregate table.

    Some rows are shared by many writers: the day's and hour's counters
    (`activity_counts`, `vote_hours`) by everyone, and an idea's own tallies by everyone
    voting on it (early on, most people vote on the same few ideas). Votes cast in a
    conversation are therefore gathered (`defer_vote`) and, with the counters, written by
    `flush()`, which the store calls just before commit: concurrent transactions hold
    those rows for the shortest time, and always take them in the same order.
    """

    def __init__(self, session: AsyncSession, backend: str, grouping: Grouping) -> None:
        self.session = session
        self.backend = backend
        self.grouping = grouping
        self._activity: Counter[ActivityKey] = Counter()
        self._hours: Counter[tuple[int, int]] = Counter()
        self._idea_votes: dict[int, Counter[int]] = {}
        self._votes_removed: list[VoteFacts] = []
        self._votes_added: list[VoteFacts] = []

    def defer_vote(
        self,
        contribution_id: int,
        change: dict[int, int],
        before: VoteFacts | None,
        after: VoteFacts | None,
    ) -> None:
        """A vote cast or changed: `change` (value -> count) to the idea's own tallies,
        and the vote's facts before and after, all applied by `flush()`."""
        self._idea_votes.setdefault(contribution_id, Counter()).update(change)
        self._votes_removed += [before] if before else []
        self._votes_added += [after] if after else []

    async def flush(self) -> None:
        """Write what was gathered (called by Store.transaction just before commit)."""
        ideas, self._idea_votes = self._idea_votes, {}
        counted = await adjust_ideas(self.session, self.backend, ideas)
        removed, self._votes_removed = self._votes_removed, []
        added, self._votes_added = self._votes_added, []
        if removed or added:
            await self.votes_changed(removed, added, counted=counted)
        activity, self._activity = self._activity, Counter()
        hours, self._hours = self._hours, Counter()
        await self._write_activity(activity)
        await self._write_vote_hours(hours)

    # --- contributions ---------------------------------------------------------------

    async def contribution_changed(
        self, before: ContributionFacts | None, after: ContributionFacts | None
    ) -> None:
        """A contribution was added (before=None), changed, or removed (after=None)."""
        activity: Counter[ActivityKey] = Counter()
        people: Counter[PersonKey] = Counter()
        days: dict[PersonKey, date] = {}
        for facts, sign in ((before, -1), (after, 1)):
            if facts is None:
                continue
            for key in facts.activity_keys():
                activity[key] += sign
            for person_key in facts.person_keys(self.grouping):
                people[person_key] += sign
                days[person_key] = facts.day
        await self.apply_activity(activity)
        await self.apply_people(people, days)

    async def contributions_removed(self, facts: Iterable[ContributionFacts]) -> None:
        activity: Counter[ActivityKey] = Counter()
        people: Counter[PersonKey] = Counter()
        for item in facts:
            activity.update(item.activity_keys())
            people.update(item.person_keys(self.grouping))
        await self.apply_activity(Counter({k: -n for k, n in activity.items()}))
        await self.apply_people(Counter({k: -n for k, n in people.items()}), {})

    # --- votes -----------------------------------------------------------------------

    async def vote_changed(self, before: VoteFacts | None, after: VoteFacts | None) -> None:
        """A vote was cast (before=None), changed, or withdrawn (after=None). The idea's
        own agree/disagree counts must already be up to date (storage.votes does that)."""
        await self.votes_changed([before] if before else [], [after] if after else [])

    async def votes_changed(
        self,
        removed: Sequence[VoteFacts],
        added: Sequence[VoteFacts],
        *,
        ideas_kept: bool = True,
        counted: Mapping[int, IdeaCounts] | None = None,
    ) -> None:
        """Votes removed and added. `ideas_kept=False` when the ideas themselves are being
        deleted, so their own tallies need no care. `counted`: the ideas' counts as
        `adjust_ideas` left them, if it ran just before."""
        activity: Counter[ActivityKey] = Counter()
        people: Counter[PersonKey] = Counter()
        roles: Counter[tuple[int, str, str]] = Counter()
        hours: Counter[tuple[int, int]] = Counter()
        days: dict[PersonKey, date] = {}
        for facts_list, sign in ((removed, -1), (added, 1)):
            for facts in facts_list:
                hours[(facts.hour, facts.question_id or NO_QUESTION)] += sign
                for key in facts.activity_keys():
                    activity[key] += sign
                for person_key in facts.person_keys(self.grouping):
                    people[person_key] += sign
                    days[person_key] = facts.day
                column = VALUE_COLUMN[facts.value]
                roles[(facts.contribution_id, facts.role or NOT_GIVEN, column)] += sign
        await self.apply_activity(activity)
        await self.apply_people(people, days)
        await self.apply_vote_hours(hours)
        if ideas_kept:
            await self.apply_role_tallies(roles)
            ideas = {facts.contribution_id for facts in [*removed, *added]}
            await self.refresh_idea_scores(sorted(ideas), counted)

    async def vote_facts(self, where: ColumnElement[bool]) -> list[VoteFacts]:
        """Facts of the votes matching `where` (a condition on Vote), with their question."""
        rows = await self.session.execute(
            select(Vote, Contribution.question_id)
            .join(Contribution, Contribution.id == Vote.contribution_id)
            .where(where)
            .order_by(Vote.id)
        )
        return [VoteFacts.of(vote, question_id) for vote, question_id in rows]

    # --- applying key deltas -----------------------------------------------------------

    async def apply_activity(self, deltas: Counter[ActivityKey]) -> None:
        self._activity.update(deltas)

    async def apply_vote_hours(self, deltas: Counter[tuple[int, int]]) -> None:
        self._hours.update(deltas)

    async def _write_activity(self, deltas: Counter[ActivityKey]) -> None:
        rows = [
            {
                "day": k[0],
                "question_id": k[1],
                "kind": k[2],
                "dimension": k[3],
                "value": k[4],
                "count": n,
            }
            for k, n in sorted(deltas.items())
            if n
        ]
        if not rows:
            return
        await self._many(ACTIVITY_UPSERT, rows)

    async def _write_vote_hours(self, deltas: Counter[tuple[int, int]]) -> None:
        rows = [
            {"hour": hour, "question_id": question, "count": n}
            for (hour, question), n in sorted(deltas.items())
            if n
        ]
        if not rows:
            return
        await self._many(HOURS_UPSERT, rows)

    async def apply_people(self, deltas: Counter[PersonKey], days: dict[PersonKey, date]) -> None:
        added = [(k, n) for k, n in sorted(deltas.items()) if n > 0]
        removed = [(k, -n) for k, n in sorted(deltas.items()) if n < 0]
        if added:
            rows = [
                {"question_id": k[0], "dimension": k[1], "value": k[2], "participant_id": k[3],
                 "actions": n, "first_day": days[k], "last_day": days[k]}
                for k, n in added
            ]  # fmt: skip
            await self._many(PARTICIPATION_UPSERT, rows)
        if removed:
            table = cast(Table, Participation.__table__)
            key = and_(
                table.c.question_id == bindparam("k_question"),
                table.c.dimension == bindparam("k_dimension"),
                table.c.value == bindparam("k_value"),
                table.c.participant_id == bindparam("k_participant"),
            )
            params = [
                {"k_question": k[0], "k_dimension": k[1], "k_value": k[2], "k_participant": k[3],
                 "k_count": n}
                for k, n in removed
            ]  # fmt: skip
            await self.session.execute(
                update(table).where(key).values(actions=table.c.actions - bindparam("k_count")),
                params,
            )
            people = sorted({k[3] for k, _n in removed})
            await self.session.execute(
                delete(table).where(table.c.participant_id.in_(people), table.c.actions <= 0)
            )

    async def apply_role_tallies(self, deltas: Counter[tuple[int, str, str]]) -> None:
        by_row: dict[tuple[int, str], dict[str, int]] = {}
        for (idea, role, column), change in sorted(deltas.items()):
            if change:
                by_row.setdefault((idea, role), {"agree": 0, "disagree": 0, "skip": 0})[column] += (
                    change
                )
        if not by_row:
            return
        rows = [
            {"contribution_id": idea, "role": role, **changes}
            for (idea, role), changes in by_row.items()
        ]
        table = cast(Table, IdeaRoleTally.__table__)
        await self._many(ROLE_UPSERT, rows)
        lowered = [key for key, changes in by_row.items() if min(changes.values()) < 0]
        if lowered:
            # A role's row left at zero would still say someone of that role voted on it.
            await self.session.execute(
                delete(table).where(
                    table.c.contribution_id == bindparam("k_idea"),
                    table.c.role == bindparam("k_role"),
                    table.c.agree == 0,
                    table.c.disagree == 0,
                    table.c.skip == 0,
                ),
                [{"k_idea": idea, "k_role": role} for idea, role in lowered],
            )

    # --- per-idea scores -----------------------------------------------------------------

    async def _many(self, statement: DriverStatement, rows: Sequence[Mapping[str, Any]]) -> None:
        await self.session.run_sync(lambda on: statement.execute_many(on, rows))

    async def refresh_idea_scores(
        self, idea_ids: Sequence[int], counted: Mapping[int, IdeaCounts] | None = None
    ) -> None:
        """Recompute controversy and consensus of these ideas from their tallies; their
        own counts are read unless `counted` (from `adjust_ideas`) holds them all."""
        if not idea_ids:
            return
        counts: Sequence[tuple[int, int, int, int | None, Any]]
        if counted is not None and all(idea in counted for idea in idea_ids):
            counts = [(idea, *counted[idea]) for idea in idea_ids]
        else:
            params = {"ideas": values_of(idea_ids, self.backend)}
            counts = (await self.session.execute(_scores_inputs(self.backend), params)).all()
        if not counts:
            return
        tallies: dict[int, list[tuple[str, int, int]]] = {}
        ideas = values_of([row[0] for row in counts], self.backend)
        for idea, role, agree, disagree in await self.session.run_sync(
            lambda on: ROLE_TALLIES_OF.rows(on, {"ideas": ideas})
        ):
            tallies.setdefault(idea, []).append((role, agree, disagree))
        await self.write_scores(
            [
                score_row(idea, agree, disagree, tallies.get(idea, ()), self.grouping)
                | {"question_id": question, "created_at": created}
                for idea, agree, disagree, question, created in counts
            ]
        )

    async def write_scores(self, rows: list[dict]) -> None:
        if rows:  # one statement for every row (executemany), compiled once
            await self._many(SCORE_UPSERT, rows)


@cache
def _scores_inputs(backend: str) -> Any:
    c = CONTRIBUTIONS.c
    return select(c.id, c.agree_count, c.disagree_count, c.question_id, c.created_at).where(
        one_of(c.id, "ideas", backend), c.kind == "idea"
    )


@cache
def _role_tallies_of(backend: str) -> Any:
    t = cast(Table, IdeaRoleTally.__table__).c
    return select(t.contribution_id, t.role, t.agree, t.disagree).where(
        one_of(t.contribution_id, "ideas", backend)
    )


ROLE_TALLIES_OF = DriverStatement(_role_tallies_of)


def score_row(
    idea: int,
    agree: int,
    disagree: int,
    role_tallies: Iterable[tuple[str, int, int]],
    grouping: Grouping,
) -> dict:
    consensus = consensus_of(role_tallies, grouping)
    return {
        "contribution_id": idea,
        "controversy": controversy(agree, disagree),
        "consensus": consensus.floor,
        "consensus_groups": consensus.groups,
        "consensus_votes": consensus.votes,
    }
