"""Aggregate queries for the team's reports, computed in SQL (never row by row)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Contribution, Participant, Question, Vote

# Channels where people take part by posting publicly, without a consent step.
PUBLIC_CHANNELS = ("x",)


@dataclass(frozen=True)
class RankedIdea:
    id: int
    text: str
    agree: int
    disagree: int
    skip: int
    score: float
    label: str
    channel: str
    question_key: str | None


def _taking_part():
    return or_(Participant.consent_at.is_not(None), Participant.channel.in_(PUBLIC_CHANNELS))


class Reports:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def totals(self) -> dict[str, int]:
        participants = await self.session.scalar(
            select(func.count()).select_from(Participant).where(_taking_part())
        )
        contributions = await self.session.scalar(select(func.count()).select_from(Contribution))
        votes = await self.session.scalar(select(func.count()).select_from(Vote))
        return {
            "participants": participants or 0,
            "contributions": contributions or 0,
            "votes": votes or 0,
        }

    async def contributions_by(self, column: str) -> dict[str, int]:
        field = getattr(Contribution, column)
        rows = await self.session.execute(
            select(field, func.count()).group_by(field).order_by(func.count().desc())
        )
        return {str(key) if key is not None else "unknown": count for key, count in rows}

    async def contributions_by_question(self) -> dict[str, int]:
        rows = await self.session.execute(
            select(Question.key, func.count(Contribution.id))
            .join(Contribution, Contribution.question_id == Question.id, isouter=True)
            .group_by(Question.key)
            .order_by(Question.key)
        )
        return dict(rows.all())

    async def participants_by_role(self) -> dict[str, int]:
        rows = await self.session.execute(
            select(Participant.role, func.count())
            .where(_taking_part())
            .group_by(Participant.role)
            .order_by(func.count().desc())
        )
        return {role or "not given": count for role, count in rows}

    async def top_ideas(self, limit: int = 10) -> list[RankedIdea]:
        rows = await self.session.execute(
            select(Contribution, Question.key)
            .join(Question, Contribution.question_id == Question.id, isouter=True)
            .where(
                Contribution.kind == "idea",
                Contribution.status == "visible",
                Contribution.duplicate_of.is_(None),
            )
            .order_by(Contribution.score.desc(), Contribution.agree_count.desc(), Contribution.id)
            .limit(limit)
        )
        return [
            RankedIdea(
                id=c.id,
                text=c.text,
                agree=c.agree_count,
                disagree=c.disagree_count,
                skip=c.skip_count,
                score=round(c.score, 4),
                label=c.label,
                channel=c.channel,
                question_key=key,
            )
            for c, key in rows
        ]
