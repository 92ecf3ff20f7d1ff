"""What moderators and admins change: amending a contribution's text, merging two ideas
that say the same thing, and erasing a single contribution. Every change keeps the
aggregates right through storage/tallies.py; the audit entry is written by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storage.contributions import contribution_record
from storage.models import Contribution, Participant, SimilarPair, Vote
from storage.records import ContributionRecord
from storage.tallies import Tallies
from storage.tally_keys import ContributionFacts
from storage.votes import recount_tallies, remove_votes


@dataclass(frozen=True)
class Amendment:
    """The new text and what enrichment found in it."""

    text: str
    language: str | None
    polarity: float | None
    subjectivity: float | None
    label: str
    redactions: tuple[str, ...]
    sentiment_confidence: float | None = None


@dataclass(frozen=True)
class MergeResult:
    duplicate: ContributionRecord
    survivor: ContributionRecord  # with its tallies after the merge
    moved: int  # votes moved to the surviving idea
    dropped: int  # votes dropped: the person had voted on the surviving idea too
    comments_moved: int


@dataclass(frozen=True)
class ContributionErasure:
    contribution: ContributionRecord
    votes: int
    comments_detached: int


class Moderation:
    def __init__(self, session: AsyncSession, tallies: Tallies) -> None:
        self.session = session
        self.tallies = tallies

    async def amend(self, contribution_id: int, amendment: Amendment) -> str | None:
        """Replace the text (and its tags) and make it visible; returns the original text,
        which from now on exists only where the caller records it (the audit log)."""
        row = await self.session.get(Contribution, contribution_id, with_for_update=True)
        if row is None:
            return None
        before, original = ContributionFacts.of(row), row.text
        row.text = amendment.text
        row.language = amendment.language
        row.polarity = amendment.polarity
        row.subjectivity = amendment.subjectivity
        row.label = amendment.label
        row.sentiment_confidence = amendment.sentiment_confidence
        row.redactions = list(amendment.redactions)
        row.status = "visible"
        row.moderation_reason = None
        await self.session.flush()
        await self.tallies.contribution_changed(before, ContributionFacts.of(row))
        return original

    async def merge(self, duplicate_id: int, survivor_id: int) -> MergeResult:
        """Make `duplicate_id` a duplicate of `survivor_id` and move its votes there.

        Someone who voted on both ideas keeps only their vote on the surviving idea: it
        is the wording that stays in front of voters, and they judged it themselves. The
        surviving idea's author loses any vote they cast on the duplicate (no one votes
        on their own idea). Comments and earlier duplicates move to the survivor.
        """
        duplicate = await self.session.get(Contribution, duplicate_id, with_for_update=True)
        survivor = await self.session.get(Contribution, survivor_id, with_for_update=True)
        if duplicate is None or survivor is None or duplicate_id == survivor_id:
            raise ValueError("merge needs two different ideas that exist")
        on_survivor = select(Vote.participant_id).where(Vote.contribution_id == survivor_id)
        clash = and_(
            Vote.contribution_id == duplicate_id,
            or_(
                Vote.participant_id.in_(on_survivor),
                Vote.participant_id == survivor.participant_id,
            ),
        )
        dropped = await self.tallies.vote_facts(clash)
        await self.session.execute(
            delete(Vote).where(clash).execution_options(synchronize_session=False)
        )
        moving = await self.tallies.vote_facts(Vote.contribution_id == duplicate_id)
        await self.session.execute(
            update(Vote)
            .where(Vote.contribution_id == duplicate_id)
            .values(contribution_id=survivor_id)
            .execution_options(synchronize_session=False)
        )
        for idea in sorted((duplicate_id, survivor_id)):
            await recount_tallies(self.session, idea)
        moved_to = [
            replace(f, contribution_id=survivor_id, question_id=survivor.question_id)
            for f in moving
        ]
        await self.tallies.votes_changed([*dropped, *moving], moved_to)
        comments = await self.session.execute(
            update(Contribution)
            .where(Contribution.parent_id == duplicate_id)
            .values(parent_id=survivor_id)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(
            update(Contribution)
            .where(Contribution.duplicate_of == duplicate_id)
            .values(duplicate_of=survivor_id)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(
            update(Contribution)
            .where(Contribution.id == duplicate_id)
            .values(duplicate_of=survivor_id)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(
            update(SimilarPair)
            .where(
                SimilarPair.status == "open",
                or_(SimilarPair.idea_id == duplicate_id, SimilarPair.other_id == duplicate_id),
            )
            .values(status="merged")
            .execution_options(synchronize_session=False)
        )
        await self.session.refresh(duplicate)
        await self.session.refresh(survivor)
        return MergeResult(
            duplicate=contribution_record(duplicate),
            survivor=contribution_record(survivor),
            moved=len(moving),
            dropped=len(dropped),
            comments_moved=cast("CursorResult[Any]", comments).rowcount,
        )

    async def erase(self, contribution_id: int) -> ContributionErasure | None:
        """Delete one contribution and the votes on it; comments on it stay, detached."""
        row = await self.session.get(Contribution, contribution_id, with_for_update=True)
        if row is None:
            return None
        record = contribution_record(row)
        votes = await remove_votes(
            self.session, self.tallies, Vote.contribution_id == contribution_id, ideas_kept=False
        )
        detached = await self.session.execute(
            update(Contribution)
            .where(Contribution.parent_id == contribution_id)
            .values(parent_id=None)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(
            update(Contribution)
            .where(Contribution.duplicate_of == contribution_id)
            .values(duplicate_of=None)
            .execution_options(synchronize_session=False)
        )
        await self.tallies.contributions_removed([ContributionFacts.of(row)])
        await self.session.delete(row)
        await self.session.flush()
        return ContributionErasure(record, votes, cast("CursorResult[Any]", detached).rowcount)

    async def get_for_update(self, contribution_id: int) -> ContributionRecord | None:
        row = await self.session.get(Contribution, contribution_id, with_for_update=True)
        return contribution_record(row) if row else None

    async def find_by_pseudonym(self, prefix: str) -> list[tuple[int, str]]:
        """Participants whose pseudonym starts with `prefix` (admins erase by pseudonym)."""
        rows = await self.session.execute(
            select(Participant.id, Participant.pseudonym)
            .where(Participant.pseudonym.like(f"{prefix}%"))
            .limit(2)
        )
        return [(pid, pseudonym) for pid, pseudonym in rows]
