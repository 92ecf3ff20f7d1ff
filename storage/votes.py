"""Votes: one per participant and idea (a second vote changes the first).

Each idea carries its tallies and ranking score, changed in the same transaction as the
vote (a cast vote's tallies are written at the end of it, see storage/tallies.py), so
reports never count the votes table to rank ideas.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Contribution, Vote
from storage.records import Profile, VoteRecord
from storage.scoring import wilson_lower_bound
from storage.tallies import IDEA_COUNT_COLUMN, IdeaCounts, Tallies, adjust_ideas
from storage.tally_keys import VoteFacts

AGREE, DISAGREE, SKIP = 1, -1, 0


@dataclass(frozen=True)
class VoteOutcome:
    status: str  # "new" | "changed" | "unchanged"
    previous: int | None


async def recount_tallies(session: AsyncSession, contribution_id: int) -> None:
    """Set an idea's tallies and score from its votes (after votes moved in a merge)."""
    counts = dict(
        (
            await session.execute(
                select(Vote.value, func.count())
                .where(Vote.contribution_id == contribution_id)
                .group_by(Vote.value)
            )
        ).all()
    )
    agree, disagree, skip = (counts.get(value, 0) for value in (AGREE, DISAGREE, SKIP))
    await session.execute(
        update(Contribution)
        .where(Contribution.id == contribution_id)
        .values(
            agree_count=agree,
            disagree_count=disagree,
            skip_count=skip,
            vote_count=agree + disagree + skip,
            score=wilson_lower_bound(agree, disagree),
        )
    )


async def remove_votes(
    session: AsyncSession, tallies: Tallies, where: ColumnElement[bool], *, ideas_kept: bool = True
) -> int:
    """Withdraw the votes matching `where` (a condition on Vote), keeping every tally
    right. `ideas_kept=False` when the ideas voted on are being deleted too."""
    facts = await tallies.vote_facts(where)
    counted: dict[int, IdeaCounts] = {}
    if ideas_kept:
        removed: dict[int, Counter[int]] = {}
        for vote in facts:
            removed.setdefault(vote.contribution_id, Counter())[vote.value] -= 1
        counted = await adjust_ideas(session, tallies.backend, removed)
    await session.execute(delete(Vote).where(where).execution_options(synchronize_session=False))
    await tallies.votes_changed(facts, [], ideas_kept=ideas_kept, counted=counted)
    return len(facts)


async def remove_votes_of(session: AsyncSession, tallies: Tallies, participant_id: int) -> int:
    """Withdraw every vote by a participant, keeping the ideas' tallies right."""
    return await remove_votes(session, tallies, Vote.participant_id == participant_id)


class Votes:
    def __init__(self, session: AsyncSession, backend: str, tallies: Tallies) -> None:
        self.session = session
        self.backend = backend
        self.tallies = tallies

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
        if value not in IDEA_COUNT_COLUMN:
            raise ValueError(f"a vote is 1, -1 or 0, not {value!r}")
        existing = await self.session.scalar(
            select(Vote)
            .where(Vote.participant_id == participant_id, Vote.contribution_id == contribution_id)
            .with_for_update()
        )
        snapshot = {"role": profile.role, "region": profile.region, "age_band": profile.age_band}
        question_id = await self.session.scalar(
            select(Contribution.question_id).where(Contribution.id == contribution_id)
        )
        if existing is None:
            added = Vote(
                participant_id=participant_id,
                contribution_id=contribution_id,
                value=value,
                channel=channel,
                created_at=now,
                updated_at=now,
                **snapshot,
            )
            self.session.add(added)
            await self.session.flush()
            self.tallies.defer_vote(
                contribution_id, {value: 1}, None, VoteFacts.of(added, question_id)
            )
            return VoteOutcome("new", None)
        before = VoteFacts.of(existing, question_id)
        previous = existing.value
        existing.updated_at = now
        existing.channel = channel
        for key, item in snapshot.items():
            setattr(existing, key, item)
        existing.value = value
        await self.session.flush()
        after = VoteFacts.of(existing, question_id)
        if after != before:
            change = {previous: -1, value: 1} if previous != value else {}
            self.tallies.defer_vote(contribution_id, change, before, after)
        return VoteOutcome("unchanged" if previous == value else "changed", previous)

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
