"""The team's report queries, all answered from aggregates or index scans in SQL.

Every query takes a `Scope`: an optional question and an optional first day. Counts
come from `activity_counts` and `participation` (storage/tallies.py); rankings walk an
index on the ranking column and stop after the first N visible ideas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.grouping import Grouping
from storage.models import (
    ActivityCount,
    Checkpoint,
    Contribution,
    IdeaRoleTally,
    IdeaScore,
    Participant,
    Participation,
    Question,
    Vote,
)
from storage.rebuild import rebuild_idea_scores, rebuild_role_groups
from storage.tallies import ANY_QUESTION, NOT_GIVEN, PAIRED_WITH_CHANNEL

PUBLIC_CHANNELS = ("x",)  # people take part there by posting, without a consent step
GROUPING_CHECKPOINT = "insights.grouping"
PEOPLE_DIMENSIONS = ("role", "region", "age_band", "channel")


@dataclass(frozen=True)
class Scope:
    """Which part of the consultation a report covers: one question, from one day."""

    question_id: int | None = None
    since: date | None = None  # first UTC day included

    @property
    def since_at(self) -> datetime | None:
        return datetime.combine(self.since, time.min, tzinfo=UTC) if self.since else None


@dataclass(frozen=True)
class IdeaRow:
    id: int
    text: str
    agree: int
    disagree: int
    skip: int
    score: float
    label: str
    channel: str
    language: str | None
    question_key: str | None
    created_at: datetime
    controversy: float = 0.0
    consensus: float | None = None


@dataclass(frozen=True)
class PendingRow:
    id: int
    kind: str
    text: str
    reason: str | None
    channel: str
    question_key: str | None
    parent_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class RecentCounts:
    contributions: int
    votes: int
    participants: int  # who joined


def _idea_filters(scope: Scope, *, on=Contribution) -> list:
    """Visible, unmerged ideas in scope; `on=IdeaScore` puts the question and time
    filters on the score table, so a ranking walks that table's index."""
    filters = [
        Contribution.kind == "idea",
        Contribution.status == "visible",
        Contribution.duplicate_of.is_(None),
    ]
    if scope.question_id is not None:
        filters.append(on.question_id == scope.question_id)
    if scope.since is not None:
        filters.append(on.created_at >= scope.since_at)
    return filters


def _idea_row(c: Contribution, key: str | None, score: IdeaScore | None = None) -> IdeaRow:
    return IdeaRow(
        id=c.id,
        text=c.text,
        agree=c.agree_count,
        disagree=c.disagree_count,
        skip=c.skip_count,
        score=round(c.score, 4),
        label=c.label,
        channel=c.channel,
        language=c.language,
        question_key=key,
        created_at=c.created_at,
        controversy=round(score.controversy, 3) if score else 0.0,
        consensus=round(score.consensus, 4) if score and score.consensus is not None else None,
    )


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

    def _activity_scope(self, query, scope: Scope):
        if scope.question_id is not None:
            query = query.where(ActivityCount.question_id == scope.question_id)
        if scope.since is not None:
            query = query.where(ActivityCount.day >= scope.since)
        return query

    async def signed_up(self) -> int:
        """People who agreed to take part (or posted publicly, where no consent is asked)."""
        return (
            await self.session.scalar(
                select(func.count())
                .select_from(Participant)
                .where(
                    or_(
                        Participant.consent_at.is_not(None),
                        Participant.channel.in_(PUBLIC_CHANNELS),
                    )
                )
            )
            or 0
        )

    async def participants_by_current(self, column: str) -> dict[str, int]:
        """Signed-up people by their current answer (the summary's original breakdown)."""
        field = getattr(Participant, column)
        rows = await self.session.execute(
            select(field, func.count())
            .where(
                or_(
                    Participant.consent_at.is_not(None),
                    Participant.channel.in_(PUBLIC_CHANNELS),
                )
            )
            .group_by(field)
        )
        return {key or "": count for key, count in rows}

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
        return {tuple(value.rsplit("|", 1)): count for value, count in counts.items()}

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

    async def recent(self, start: datetime, end: datetime, scope: Scope) -> RecentCounts:
        """Contributions, votes and new participants between two moments (index ranges)."""
        contributions = (
            select(func.count())
            .select_from(Contribution)
            .where(Contribution.created_at >= start, Contribution.created_at < end)
        )
        votes = (
            select(func.count())
            .select_from(Vote)
            .where(Vote.created_at >= start, Vote.created_at < end)
        )
        joined = (
            select(func.count())
            .select_from(Participant)
            .where(
                Participant.created_at >= start,
                Participant.created_at < end,
                or_(Participant.consent_at.is_not(None), Participant.channel.in_(PUBLIC_CHANNELS)),
            )
        )
        if scope.question_id is not None:
            contributions = contributions.where(Contribution.question_id == scope.question_id)
            votes = votes.join(Contribution, Contribution.id == Vote.contribution_id).where(
                Contribution.question_id == scope.question_id
            )
        return RecentCounts(
            contributions=await self.session.scalar(contributions) or 0,
            votes=await self.session.scalar(votes) or 0,
            participants=await self.session.scalar(joined) or 0,
        )

    # --- rankings ----------------------------------------------------------------------

    async def top(self, scope: Scope, limit: int) -> list[IdeaRow]:
        """Ideas by the Wilson lower bound of their agree share."""
        rows = await self.session.execute(
            select(Contribution, Question.key)
            .join(Question, Question.id == Contribution.question_id, isouter=True)
            .where(*_idea_filters(scope))
            .order_by(Contribution.score.desc(), Contribution.id.desc())
            .limit(limit)
        )
        return [_idea_row(c, key) for c, key in rows]

    async def controversial(self, scope: Scope, limit: int, min_votes: int) -> list[IdeaRow]:
        """Ideas whose votes are many and split close to evenly (storage.scoring)."""
        rows = await self.session.execute(
            select(Contribution, Question.key, IdeaScore)
            .select_from(IdeaScore)
            .join(Contribution, Contribution.id == IdeaScore.contribution_id)
            .join(Question, Question.id == Contribution.question_id, isouter=True)
            .where(
                IdeaScore.controversy > 0,
                Contribution.agree_count + Contribution.disagree_count >= min_votes,
                *_idea_filters(scope, on=IdeaScore),
            )
            .order_by(IdeaScore.controversy.desc(), IdeaScore.contribution_id.desc())
            .limit(limit)
        )
        return [_idea_row(c, key, score) for c, key, score in rows]

    async def consensus(self, scope: Scope, limit: int) -> list[IdeaRow]:
        """Ideas by their lowest agree share across role groups with enough votes."""
        rows = await self.session.execute(
            select(Contribution, Question.key, IdeaScore)
            .select_from(IdeaScore)
            .join(Contribution, Contribution.id == IdeaScore.contribution_id)
            .join(Question, Question.id == Contribution.question_id, isouter=True)
            .where(IdeaScore.consensus.is_not(None), *_idea_filters(scope, on=IdeaScore))
            .order_by(
                IdeaScore.consensus.desc(),
                IdeaScore.consensus_votes.desc(),
                IdeaScore.contribution_id.desc(),
            )
            .limit(limit)
        )
        return [_idea_row(c, key, score) for c, key, score in rows]

    async def role_tallies(self, idea_ids: list[int]) -> dict[int, list[tuple[str, int, int]]]:
        found: dict[int, list[tuple[str, int, int]]] = {idea: [] for idea in idea_ids}
        if not idea_ids:
            return found
        rows = await self.session.execute(
            select(
                IdeaRoleTally.contribution_id,
                IdeaRoleTally.role,
                IdeaRoleTally.agree,
                IdeaRoleTally.disagree,
            ).where(IdeaRoleTally.contribution_id.in_(idea_ids))
        )
        for idea, role, agree, disagree in rows:
            found[idea].append((role, agree, disagree))
        return found

    async def voting_groups(self, scope: Scope, grouping: Grouping) -> dict[str, int]:
        """Votes cast in the scope by each role group (from the daily counts)."""
        counts: dict[str, int] = {}
        for kind, dimension, value, count in await self.activity(scope):
            if kind == "vote" and dimension == "role":
                group = grouping.group(value)
                counts[group] = counts.get(group, 0) + count
        return counts

    async def pending(self, scope: Scope, limit: int) -> tuple[int, list[PendingRow]]:
        """The moderation queue, oldest first, and how long it is."""
        filters = [Contribution.status == "pending"]
        if scope.question_id is not None:
            filters.append(Contribution.question_id == scope.question_id)
        if scope.since is not None:
            filters.append(Contribution.created_at >= scope.since_at)
        total = await self.session.scalar(
            select(func.count()).select_from(Contribution).where(*filters)
        )
        rows = await self.session.execute(
            select(Contribution, Question.key)
            .join(Question, Question.id == Contribution.question_id, isouter=True)
            .where(*filters)
            .order_by(Contribution.id)
            .limit(limit)
        )
        return total or 0, [
            PendingRow(
                id=c.id,
                kind=c.kind,
                text=c.text,
                reason=c.moderation_reason,
                channel=c.channel,
                question_key=key,
                parent_id=c.parent_id,
                created_at=c.created_at,
            )
            for c, key in rows
        ]

    async def ideas_since(self, scope: Scope, after_id: int) -> int:
        """Visible ideas newer than `after_id` (what a stored analysis has not seen)."""
        return (
            await self.session.scalar(
                select(func.count())
                .select_from(Contribution)
                .where(Contribution.id > after_id, *_idea_filters(scope))
            )
            or 0
        )

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


def since_days(today: date, days: int) -> date:
    """The first day of a window of `days` calendar days ending today."""
    return today - timedelta(days=max(days, 1) - 1)
