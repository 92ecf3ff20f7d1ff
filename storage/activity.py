"""What one person did recently, for the limits per person (handlers/limits.py), and
whether they already shared an idea with the same text."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Contribution, Vote


class RecentActivity:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def contributions_since(self, participant_id: int, kind: str, since: datetime) -> int:
        return await self.session.scalar(
            select(func.count())
            .select_from(Contribution)
            .where(
                Contribution.participant_id == participant_id,
                Contribution.kind == kind,
                Contribution.created_at >= since,
            )
        )

    async def votes_since(self, participant_id: int, since: datetime) -> int:
        return await self.session.scalar(
            select(func.count())
            .select_from(Vote)
            .where(Vote.participant_id == participant_id, Vote.updated_at >= since)
        )

    async def same_idea(self, participant_id: int, text: str) -> int | None:
        """The number of this person's idea with exactly this (stored) text, if any."""
        return await self.session.scalar(
            select(Contribution.id)
            .where(
                Contribution.participant_id == participant_id,
                Contribution.kind == "idea",
                Contribution.text == text,
            )
            .order_by(Contribution.id)
            .limit(1)
        )
