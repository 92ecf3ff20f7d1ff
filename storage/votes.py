"""Votes: one per participant and idea (a second vote changes the first).

Each idea carries its tallies and ranking score, changed in the same transaction as the
vote, so reports never count the votes table to rank ideas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Contribution, Vote
from storage.records import Profile, VoteRecord
from storage.scoring import wilson_lower_bound

AGREE, DISAGREE, SKIP = 1, -1, 0
_COUNTER = {AGREE: "agree_count", DISAGREE: "disagree_count", SKIP: "skip_count"}


@dataclass(frozen=True)
class VoteOutcome:
    status: str  # "new" | "changed" | "unchanged"
    previous: int | None


async def adjust_tallies(
    session: AsyncSession, contribution_id: int, delta: dict[int, int]
) -> None:
    """Add `delta` (vote value -> change in count) to an idea's tallies and rescore it."""
    values = {
        _COUNTER[value]: getattr(Contribution, _COUNTER[value]) + change
        for value, change in delta.items()
        if change
    }
    if not values:
        return
    seen = sum(delta.values())
    if seen:
        values["vote_count"] = Contribution.vote_count + seen
    row = (
        await session.execute(
            update(Contribution)
            .where(Contribution.id == contribution_id)
            .values(**values)
            .returning(Contribution.agree_count, Contribution.disagree_count)
        )
    ).one()
    await session.execute(
        update(Contribution)
        .where(Contribution.id == contribution_id)
        .values(score=wilson_lower_bound(row.agree_count, row.disagree_count))
    )


async def remove_votes_of(session: AsyncSession, participant_id: int) -> int:
    """Withdraw every vote by a participant, keeping the ideas' tallies right."""
    rows = (
        await session.execute(
            select(Vote.contribution_id, Vote.value).where(Vote.participant_id == participant_id)
        )
    ).all()
    for contribution_id, value in rows:
        await adjust_tallies(session, contribution_id, {value: -1})
    await session.execute(delete(Vote).where(Vote.participant_id == participant_id))
    return len(rows)


class Votes:
    def __init__(self, session: AsyncSession, backend: str) -> None:
        self.session = session
        self.backend = backend

    async def cast(
        self,
        participant_id: int,
        contribution_id: int,
        value: int,
        *,
        channel: str,
        profile: Profile,
        now: datetime,
    ) -> VoteOutcome:
        if value not in _COUNTER:
            raise ValueError(f"a vote is 1, -1 or 0, not {value!r}")
        existing = await self.session.scalar(
            select(Vote)
            .where(Vote.participant_id == participant_id, Vote.contribution_id == contribution_id)
            .with_for_update()
        )
        snapshot = {"role": profile.role, "region": profile.region, "age_band": profile.age_band}
        if existing is None:
            self.session.add(
                Vote(
                    participant_id=participant_id,
                    contribution_id=contribution_id,
                    value=value,
                    channel=channel,
                    created_at=now,
                    updated_at=now,
                    **snapshot,
                )
            )
            await self.session.flush()
            await adjust_tallies(self.session, contribution_id, {value: 1})
            return VoteOutcome("new", None)
        previous = existing.value
        existing.updated_at = now
        existing.channel = channel
        for key, item in snapshot.items():
            setattr(existing, key, item)
        if previous == value:
            await self.session.flush()
            return VoteOutcome("unchanged", previous)
        existing.value = value
        await self.session.flush()
        await adjust_tallies(self.session, contribution_id, {previous: -1, value: 1})
        return VoteOutcome("changed", previous)

    async def of(self, participant_id: int, contribution_id: int) -> VoteRecord | None:
        row = await self.session.scalar(
            select(Vote).where(
                Vote.participant_id == participant_id, Vote.contribution_id == contribution_id
            )
        )
        if row is None:
            return None
        return VoteRecord(
            row.participant_id,
            row.contribution_id,
            row.value,
            row.channel,
            row.created_at,
            row.updated_at,
        )

    async def for_idea(self, contribution_id: int) -> list[VoteRecord]:
        rows = await self.session.scalars(
            select(Vote).where(Vote.contribution_id == contribution_id).order_by(Vote.id)
        )
        return [
            VoteRecord(
                r.participant_id, r.contribution_id, r.value, r.channel, r.created_at, r.updated_at
            )
            for r in rows
        ]
