"""Rankings of ideas for the team's reports: each walks an index on its ranking column
(the Wilson score, controversy, consensus) and stops after the first N visible,
unmerged ideas in scope; and the moderation queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import Contribution, IdeaRoleTally, IdeaScore, Question
from storage.scope import Scope

# "Split close to evenly": the smaller side has at least a third of the larger side's
# votes, so the agree share is between 25% and 75% (an idea at 88% agree is not split).
CONTROVERSIAL_MINORITY = 3


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
    number: int | None = None  # the idea number people see ("idea 7")
    sentiment_confidence: float | None = None  # the label's calibrated probability


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
    number: int | None = None  # an idea's number; None for a comment
    parent_number: int | None = None  # a comment's idea's number


def _idea_filters(scope: Scope, *, on: Any = Contribution) -> list:
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
        number=c.idea_number,
        sentiment_confidence=(
            round(c.sentiment_confidence, 4) if c.sentiment_confidence is not None else None
        ),
    )


class Rankings:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

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
        """Ideas whose votes are many and split close to evenly (storage.scoring), with
        the agree share between 25% and 75%."""
        rows = await self.session.execute(
            select(Contribution, Question.key, IdeaScore)
            .select_from(IdeaScore)
            .join(Contribution, Contribution.id == IdeaScore.contribution_id)
            .join(Question, Question.id == Contribution.question_id, isouter=True)
            .where(
                IdeaScore.controversy > 0,
                Contribution.agree_count + Contribution.disagree_count >= min_votes,
                Contribution.agree_count * CONTROVERSIAL_MINORITY >= Contribution.disagree_count,
                Contribution.disagree_count * CONTROVERSIAL_MINORITY >= Contribution.agree_count,
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
        parent = aliased(Contribution)
        rows = await self.session.execute(
            select(Contribution, Question.key, parent.idea_number)
            .join(Question, Question.id == Contribution.question_id, isouter=True)
            .join(parent, parent.id == Contribution.parent_id, isouter=True)
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
                number=c.idea_number,
                parent_number=parent_number,
            )
            for c, key, parent_number in rows
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
