"""The team's counts, all answered from aggregates or index ranges in SQL: activity
per day and dimension, and people per answer (storage/tallies.py keeps both).

Every query takes a `Scope`: an optional question and an optional first day. Rankings
of ideas are in storage/rankings.py.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar, cast

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.grouping import Grouping
from storage.models import (
    ActivityCount,
    Checkpoint,
    Contribution,
    Participant,
    Participation,
    Question,
    Vote,
    VoteHour,
)
from storage.rebuild import rebuild_idea_scores, rebuild_role_groups
from storage.scope import Scope
from storage.tally_keys import ANY_QUESTION, NOT_GIVEN, PAIRED_WITH_CHANNEL

GROUPING_CHECKPOINT = "insights.grouping"
PEOPLE_DIMENSIONS = ("role", "region", "age_band", "channel")


_Q = TypeVar("_Q", bound=Select)


@dataclass(frozen=True)
class RecentCounts:
    contributions: int
    votes: int
    participants: int  # who joined


class Insights:
    def __init__(self, session: AsyncSession, backend: str, grouping: Grouping) -> None:
        self.session = session
        self.backend = backend
        self.grouping = grouping

    # --- counts ------------------------------------------------------------------------

    async def activity(self, scope: Scope) -> list[tuple[str, str, str, int]]:
        """(kind, dimension, value, count) summed over the scope's days and question."""
        query = select(
            ActivityCount.kind,
            ActivityCount.dimension,
            ActivityCount.value,
            func.sum(ActivityCount.count),
        ).group_by(ActivityCount.kind, ActivityCount.dimension, ActivityCount.value)
        query = self._activity_scope(query, scope)
        return [(k, d, v, int(n)) for k, d, v, n in await self.session.execute(query) if n]

    async def activity_by_question(self, scope: Scope) -> list[tuple[str | None, str, int]]:
        """(question key, kind, count) from the channel dimension (one row per item)."""
        query = (
            select(Question.key, ActivityCount.kind, func.sum(ActivityCount.count))
            .select_from(ActivityCount)
            .join(Question, Question.id == ActivityCount.question_id, isouter=True)
            .where(ActivityCount.dimension == "channel")
            .group_by(Question.key, ActivityCount.kind)
        )
        query = self._activity_scope(query, scope)
        return [(key, kind, int(n)) for key, kind, n in await self.session.execute(query) if n]

    async def activity_by_day(
        self, scope: Scope, kind: str, dimension: str
    ) -> list[tuple[date, str, int]]:
        query = (
            select(ActivityCount.day, ActivityCount.value, func.sum(ActivityCount.count))
            .where(ActivityCount.kind == kind, ActivityCount.dimension == dimension)
            .group_by(ActivityCount.day, ActivityCount.value)
            .order_by(ActivityCount.day)
        )
        query = self._activity_scope(query, scope)
        return [(day, value, int(n)) for day, value, n in await self.session.execute(query) if n]

    def _activity_scope(self, query: _Q, scope: Scope) -> _Q:
        if scope.question_id is not None:
            query = query.where(ActivityCount.question_id == scope.question_id)
        if scope.since is not None:
            query = query.where(ActivityCount.day >= scope.since)
        return query

    async def signed_up(self, public_channels: Collection[str]) -> int:
        """People who agreed to take part, or posted on one of `public_channels` (the
        channels declared with the public medium, where no consent is asked)."""
        return (
            await self.session.scalar(
                select(func.count()).select_from(Participant).where(_signed_up(public_channels))
            )
            or 0
        )

    async def took_part(self, scope: Scope) -> int:
        """How many people contributed or voted within the scope."""
        return await self._people_count(scope, "person", NOT_GIVEN)

    async def people_by(
        self, dimension: str, scope: Scope, *, grouped: bool = False
    ) -> dict[str, int]:
        """People who took part, by one answer as they gave it when they acted; with
        `grouped`, roles are counted by role group (each person once per group)."""
        if dimension not in PEOPLE_DIMENSIONS:
            raise ValueError(f"cannot count people by {dimension!r}")
        return await self._people(scope, "role_group" if grouped else dimension)

    async def people_by_channel_within(
        self, dimension: str, scope: Scope, *, grouped: bool = False
    ) -> dict[tuple[str, str], int]:
        """People by (answer, channel): which channels each group arrives through."""
        if dimension not in PEOPLE_DIMENSIONS or dimension == "channel":
            raise ValueError(f"cannot count people by {dimension!r} and channel")
        paired = f"{'role_group' if grouped else dimension}+channel"
        if paired.split("+")[0] not in PAIRED_WITH_CHANNEL:
            return {}
        counts = await self._people(scope, paired)
        return {
            cast(tuple[str, str], tuple(value.rsplit("|", 1))): count
            for value, count in counts.items()
        }

    async def _people(self, scope: Scope, dimension: str) -> dict[str, int]:
        # One range of the primary key: every row is one person with one answer.
        rows = await self.session.execute(
            select(Participation.value, func.count())
            .where(*self._people_scope(scope), Participation.dimension == dimension)
            .group_by(Participation.value)
        )
        return {value: count for value, count in rows}

    async def _people_count(self, scope: Scope, dimension: str, value: str) -> int:
        return (
            await self.session.scalar(
                select(func.count())
                .select_from(Participation)
                .where(
                    *self._people_scope(scope),
                    Participation.dimension == dimension,
                    Participation.value == value,
                )
            )
            or 0
        )

    def _people_scope(self, scope: Scope) -> list:
        filters = [
            Participation.question_id
            == (scope.question_id if scope.question_id is not None else ANY_QUESTION)
        ]
        if scope.since is not None:
            filters.append(Participation.last_day >= scope.since)
        return filters

    async def recent(
        self, start: datetime, end: datetime, scope: Scope, public_channels: Collection[str]
    ) -> RecentCounts:
        """Contributions, votes and new participants (signed up as in `signed_up`) between
        two moments. Votes in whole hours come from `vote_hours`; only the part-hours at
        either end are counted."""
        contributions = (
            select(func.count())
            .select_from(Contribution)
            .where(Contribution.created_at >= start, Contribution.created_at < end)
        )
        if scope.question_id is not None:
            contributions = contributions.where(Contribution.question_id == scope.question_id)
        joined = (
            select(func.count())
            .select_from(Participant)
            .where(
                Participant.created_at >= start,
                Participant.created_at < end,
                _signed_up(public_channels),
            )
        )
        first_hour, last_hour = -int(-start.timestamp() // 3600), int(end.timestamp() // 3600)
        if first_hour >= last_hour:
            votes = await self._votes_between(start, end, scope)
        else:
            whole = select(func.coalesce(func.sum(VoteHour.count), 0)).where(
                VoteHour.hour >= first_hour, VoteHour.hour < last_hour
            )
            if scope.question_id is not None:
                whole = whole.where(VoteHour.question_id == scope.question_id)
            votes = (
                (await self.session.scalar(whole) or 0)
                + await self._votes_between(start, _at_hour(first_hour), scope)
                + await self._votes_between(_at_hour(last_hour), end, scope)
            )
        return RecentCounts(
            contributions=await self.session.scalar(contributions) or 0,
            votes=int(votes),
            participants=await self.session.scalar(joined) or 0,
        )

    async def _votes_between(self, start: datetime, end: datetime, scope: Scope) -> int:
        query = (
            select(func.count())
            .select_from(Vote)
            .where(Vote.created_at >= start, Vote.created_at < end)
        )
        if scope.question_id is not None:
            # A lookup per vote (a correlated subquery), never a join the planner may
            # turn into a scan of every contribution of the question.
            question_of_vote = (
                select(Contribution.question_id)
                .where(Contribution.id == Vote.contribution_id)
                .scalar_subquery()
            )
            query = query.where(question_of_vote == scope.question_id)
        return await self.session.scalar(query) or 0

    async def voting_groups(self, scope: Scope, grouping: Grouping) -> dict[str, int]:
        """Votes cast in the scope by each role group (from the daily counts)."""
        counts: dict[str, int] = {}
        for kind, dimension, value, count in await self.activity(scope):
            if kind == "vote" and dimension == "role":
                group = grouping.group(value)
                counts[group] = counts.get(group, 0) + count
        return counts

    # --- role groups ---------------------------------------------------------------------

    async def ensure_grouping(self, now: datetime) -> bool:
        """Recompute idea consensus when the role groups or thresholds changed since the
        scores were last computed; True when it did."""
        fingerprint = self.grouping.fingerprint()
        stored = await self.session.get(Checkpoint, GROUPING_CHECKPOINT)
        if stored is not None and stored.value == fingerprint:
            return False
        await rebuild_idea_scores(self.session, self.backend, self.grouping)
        await rebuild_role_groups(self.session, self.backend, self.grouping)
        if stored is None:
            self.session.add(
                Checkpoint(name=GROUPING_CHECKPOINT, value=fingerprint, updated_at=now)
            )
        else:
            stored.value, stored.updated_at = fingerprint, now
        await self.session.flush()
        return True


def _signed_up(public_channels: Collection[str]) -> ColumnElement[bool]:
    return or_(Participant.consent_at.is_not(None), Participant.channel.in_(public_channels))


def since_days(today: date, days: int) -> date:
    """The first day of a window of `days` calendar days ending today."""
    return today - timedelta(days=max(days, 1) - 1)


def _at_hour(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * 3600, UTC)
