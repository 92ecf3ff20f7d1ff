"""Participants: pseudonymous people, their consent, gateway answers and conversation state."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    AuditEntry,
    Contact,
    Contribution,
    OutboxMessage,
    Participant,
    Vote,
)
from storage.records import ErasureCounts, ParticipantRecord, Profile
from storage.tallies import Tallies
from storage.tally_keys import ContributionFacts
from storage.votes import remove_votes, remove_votes_of

_MUTABLE = {
    "language",
    "consent_at",
    "refused_at",
    "answers",
    "state",
    "opted_out",
    "followups",
    "unreachable",
    "last_seen_at",
}


def _rowcount(result: Result[Any]) -> int:
    return cast("CursorResult[Any]", result).rowcount


def participant_record(row: Participant) -> ParticipantRecord:
    return ParticipantRecord(
        id=row.id,
        pseudonym=row.pseudonym,
        channel=row.channel,
        language=row.language,
        consent_at=row.consent_at,
        refused_at=row.refused_at,
        answers=dict(row.answers or {}),
        state=dict(row.state or {}),
        opted_out=row.opted_out,
        followups=row.followups,
        unreachable=row.unreachable,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
    )


# Keys of an audit entry's detail that hold a contribution's words (see team actions).
_AUDIT_TEXTS = frozenset({"original", "amended", "text"})


class Participants:
    def __init__(self, session: AsyncSession, tallies: Tallies) -> None:
        self.session = session
        self.tallies = tallies

    async def find(self, pseudonym: str, *, lock: bool = True) -> ParticipantRecord | None:
        """The participant with this pseudonym; locked for this transaction on PostgreSQL,
        so two workers handling the same person's messages take turns. The lock is FOR NO
        KEY UPDATE: others' rows that point at this person (their foreign key checks take
        FOR KEY SHARE) are not held up by it, which FOR UPDATE would do."""
        query = select(Participant).where(Participant.pseudonym == pseudonym)
        if lock:
            query = query.with_for_update(key_share=True)
        row = await self.session.scalar(query)
        return participant_record(row) if row else None

    async def get(self, participant_id: int) -> ParticipantRecord | None:
        row = await self.session.get(Participant, participant_id)
        return participant_record(row) if row else None

    async def create(
        self, pseudonym: str, channel: str, now: datetime, *, language: str | None = None
    ) -> ParticipantRecord:
        row = Participant(
            pseudonym=pseudonym,
            channel=channel,
            language=language,
            answers={},
            state={},
            opted_out=False,
            unreachable=False,
            created_at=now,
            last_seen_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        return participant_record(row)

    async def update(self, participant_id: int, **changes: Any) -> None:
        unknown = set(changes) - _MUTABLE
        if unknown:
            raise ValueError(f"cannot update participant fields: {sorted(unknown)}")
        if "answers" in changes:
            answers = changes["answers"] or {}
            changes["role"] = answers.get("role")
            changes["region"] = answers.get("region")
            changes["age_band"] = answers.get("age_band")
        await self.session.execute(
            update(Participant).where(Participant.id == participant_id).values(**changes)
        )

    async def profile(self, participant_id: int) -> Profile:
        row = (
            await self.session.execute(
                select(Participant.role, Participant.region, Participant.age_band).where(
                    Participant.id == participant_id
                )
            )
        ).one_or_none()
        return Profile(*row) if row else Profile()

    async def erase(self, participant_id: int) -> ErasureCounts:
        """Delete the participant and everything that names or links to them.

        Their votes are withdrawn from other ideas' tallies first; comments other people
        left on their ideas stay, detached (parent set to NULL by the foreign key). Copies
        of their words elsewhere go too: the texts in audit entries about their
        contributions (an amendment keeps the original), and news to other people that
        quotes one of their ideas.
        """
        await self._erase_copies(participant_id)
        votes = await remove_votes_of(self.session, self.tallies, participant_id)
        contacts = _rowcount(
            await self.session.execute(
                delete(Contact).where(Contact.participant_id == participant_id)
            )
        )
        outbox = _rowcount(
            await self.session.execute(
                delete(OutboxMessage).where(OutboxMessage.participant_id == participant_id)
            )
        )
        own_ids = select(Contribution.id).where(Contribution.participant_id == participant_id)
        # Votes by others on this person's ideas go with the ideas.
        await remove_votes(
            self.session, self.tallies, Vote.contribution_id.in_(own_ids), ideas_kept=False
        )
        await self.session.execute(
            update(Contribution)
            .where(Contribution.parent_id.in_(own_ids))
            .values(parent_id=None)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(
            update(Contribution)
            .where(Contribution.duplicate_of.in_(own_ids))
            .values(duplicate_of=None)
            .execution_options(synchronize_session=False)
        )
        own = await self.session.scalars(
            select(Contribution).where(Contribution.participant_id == participant_id)
        )
        await self.tallies.contributions_removed([ContributionFacts.of(row) for row in own])
        contributions = _rowcount(
            await self.session.execute(
                delete(Contribution)
                .where(Contribution.participant_id == participant_id)
                .execution_options(synchronize_session=False)
            )
        )
        participants = _rowcount(
            await self.session.execute(delete(Participant).where(Participant.id == participant_id))
        )
        return ErasureCounts(
            participants=participants,
            contributions=contributions,
            votes=votes,
            contacts=contacts,
            outbox=outbox,
        )

    async def _erase_copies(self, participant_id: int) -> None:
        own = (
            await self.session.execute(
                select(Contribution.id, Contribution.kind, Contribution.text).where(
                    Contribution.participant_id == participant_id
                )
            )
        ).all()
        targets = [f"contribution:{id_}" for id_, _kind, _text in own]
        for start in range(0, len(targets), 500):
            entries = await self.session.scalars(
                select(AuditEntry).where(AuditEntry.target.in_(targets[start : start + 500]))
            )
            for entry in entries:
                detail = dict(entry.detail or {})
                if set(detail) & _AUDIT_TEXTS:
                    kept = {k: v for k, v in detail.items() if k not in _AUDIT_TEXTS}
                    entry.detail = {**kept, "texts_erased": True}
        for _id, kind, text in own:
            if kind == "idea" and text:
                await self.session.execute(
                    delete(OutboxMessage)
                    .where(OutboxMessage.text.contains(f'"{text}"', autoescape=True))
                    .execution_options(synchronize_session=False)
                )
        await self.session.flush()

    async def save_contact(
        self, participant_id: int, channel: str, address_encrypted: bytes, now: datetime
    ) -> None:
        existing = await self.session.get(Contact, participant_id)
        if existing is None:
            self.session.add(
                Contact(
                    participant_id=participant_id,
                    channel=channel,
                    address_encrypted=address_encrypted,
                    created_at=now,
                )
            )
        else:
            existing.channel, existing.address_encrypted = channel, address_encrypted
        await self.session.flush()

    async def contact(self, participant_id: int) -> tuple[str, bytes] | None:
        row = await self.session.get(Contact, participant_id)
        return (row.channel, row.address_encrypted) if row else None

    async def drop_contact(self, participant_id: int) -> int:
        result = await self.session.execute(
            delete(Contact).where(Contact.participant_id == participant_id)
        )
        return _rowcount(result)

    async def count(self) -> int:
        return await self.session.scalar(select(func.count()).select_from(Participant)) or 0
