"""Contributions: ideas and comments, stored already redacted and tagged."""

from __future__ import annotations

import random
from collections.abc import Collection
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Checkpoint, Contribution, Vote
from storage.records import ContributionRecord, NewContribution
from storage.tallies import Tallies
from storage.tally_keys import ContributionFacts

NEXT_IDEA_NUMBER = "ideas.next_number"


def contribution_record(row: Contribution) -> ContributionRecord:
    return ContributionRecord(
        id=row.id,
        kind=row.kind,
        question_id=row.question_id,
        parent_id=row.parent_id,
        participant_id=row.participant_id,
        text=row.text,
        language=row.language,
        polarity=row.polarity,
        subjectivity=row.subjectivity,
        label=row.label,
        redactions=tuple(row.redactions or ()),
        status=row.status,
        moderation_reason=row.moderation_reason,
        channel=row.channel,
        assisted=row.assisted,
        channel_message_id=row.channel_message_id,
        duplicate_of=row.duplicate_of,
        agree_count=row.agree_count,
        disagree_count=row.disagree_count,
        skip_count=row.skip_count,
        score=row.score,
        created_at=row.created_at,
        number=row.idea_number,
        worker_code=row.worker_code,
        sentiment_confidence=row.sentiment_confidence,
    )


def new_row_values(new: NewContribution, idea_number: int | None) -> dict[str, Any]:
    """The columns of a new contribution's row: one list for the ORM repository here and
    the batch writer's Core insert (storage/batch_apply.py)."""
    return dict(
        kind=new.kind,
        idea_number=idea_number,
        worker_code=new.worker_code,
        question_id=new.question_id,
        parent_id=new.parent_id,
        participant_id=new.participant_id,
        text=new.text,
        language=new.language,
        polarity=new.polarity,
        subjectivity=new.subjectivity,
        label=new.label,
        sentiment_confidence=new.sentiment_confidence,
        redactions=list(new.redactions),
        status=new.status,
        moderation_reason=new.moderation_reason,
        channel=new.channel,
        assisted=new.assisted,
        channel_message_id=new.channel_message_id,
        role=new.profile.role,
        region=new.profile.region,
        age_band=new.profile.age_band,
        agree_count=0,
        disagree_count=0,
        skip_count=0,
        vote_count=0,
        score=0.0,
        created_at=new.created_at,
    )


class Contributions:
    def __init__(self, session: AsyncSession, tallies: Tallies) -> None:
        self.session = session
        self.tallies = tallies

    async def add(self, new: NewContribution) -> ContributionRecord:
        number = await self._next_idea_number(new) if new.kind == "idea" else None
        row = Contribution(**new_row_values(new, number))
        self.session.add(row)
        await self.session.flush()
        await self.tallies.contribution_changed(None, ContributionFacts.of(row))
        return contribution_record(row)

    async def _next_idea_number(self, new: NewContribution) -> int:
        """The next idea number. The counter's row lock makes concurrent writers take
        turns, so no number is given twice (the unique index would refuse it anyway)."""
        row = await self.session.get(Checkpoint, NEXT_IDEA_NUMBER, with_for_update=True)
        if row is None:  # a store whose counter was removed: carry on after the highest
            highest = await self.session.scalar(select(func.max(Contribution.idea_number)))
            row = Checkpoint(name=NEXT_IDEA_NUMBER, value=str((highest or 0) + 1))
            self.session.add(row)
        number = int(row.value)
        row.value, row.updated_at = str(number + 1), new.created_at
        return number

    async def get(self, contribution_id: int) -> ContributionRecord | None:
        row = await self.session.get(Contribution, contribution_id)
        return contribution_record(row) if row else None

    async def idea_by_number(self, number: int) -> ContributionRecord | None:
        """The idea people know as "idea {number}"."""
        row = await self.session.scalar(
            select(Contribution).where(Contribution.idea_number == number)
        )
        return contribution_record(row) if row else None

    async def find_by_message(self, channel: str, message_id: str) -> ContributionRecord | None:
        row = await self.session.scalar(
            select(Contribution).where(
                Contribution.channel == channel, Contribution.channel_message_id == message_id
            )
        )
        return contribution_record(row) if row else None

    async def next_for_voting(
        self,
        participant_id: int,
        *,
        question_ids: Collection[int],
        exclude: Collection[int] = (),
        rng: random.Random,
        pool: int = 5,
    ) -> ContributionRecord | None:
        """An idea this participant has not voted on and did not write.

        The least-voted candidates (up to `pool` of them, within one vote of the fewest)
        form a pool and one is drawn at random, so new ideas get seen first without
        everyone being shown the same idea at once.
        """
        if not question_ids:
            return None
        already_voted = exists().where(
            Vote.contribution_id == Contribution.id, Vote.participant_id == participant_id
        )
        query = (
            select(Contribution)
            .where(
                Contribution.kind == "idea",
                Contribution.status == "visible",
                Contribution.duplicate_of.is_(None),
                Contribution.participant_id != participant_id,
                Contribution.question_id.in_(list(question_ids)),
                ~already_voted,
            )
            .order_by(Contribution.vote_count, Contribution.id)
            .limit(pool)
        )
        if exclude:
            query = query.where(Contribution.id.not_in(list(exclude)))
        rows = list(await self.session.scalars(query))
        if not rows:
            return None
        fewest = rows[0].vote_count
        return contribution_record(rng.choice([r for r in rows if r.vote_count <= fewest + 1]))

    async def set_status(
        self, contribution_id: int, status: str, *, reason: str | None = None
    ) -> bool:
        row = await self.session.get(Contribution, contribution_id, with_for_update=True)
        if row is None:
            return False
        before = ContributionFacts.of(row)
        await self.session.execute(
            update(Contribution)
            .where(Contribution.id == contribution_id)
            .values(status=status, moderation_reason=reason)
            .execution_options(synchronize_session=False)
        )
        await self.session.refresh(row)
        await self.tallies.contribution_changed(before, ContributionFacts.of(row))
        return True

    async def count(self, *, channel: str | None = None) -> int:
        query = select(func.count()).select_from(Contribution)
        if channel:
            query = query.where(Contribution.channel == channel)
        return await self.session.scalar(query) or 0

    async def for_participant(self, participant_id: int) -> list[ContributionRecord]:
        rows = await self.session.scalars(
            select(Contribution)
            .where(Contribution.participant_id == participant_id)
            .order_by(Contribution.id)
        )
        return [contribution_record(row) for row in rows]
