"""Plain dataclasses the store takes and returns, so no live ORM object leaves storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict


@dataclass(frozen=True)
class Profile:
    """Who is speaking, by the three standard gateway questions (a snapshot)."""

    role: str | None = None
    region: str | None = None
    age_band: str | None = None


@dataclass(frozen=True)
class QuestionRecord:
    id: int
    key: str
    text: str
    opens_at: datetime
    closes_at: datetime


@dataclass(frozen=True)
class ParticipantRecord:
    id: int
    pseudonym: str
    channel: str
    language: str | None
    consent_at: datetime | None
    refused_at: datetime | None
    answers: dict
    state: dict
    opted_out: bool
    followups: bool | None
    unreachable: bool
    created_at: datetime
    last_seen_at: datetime

    @property
    def consented(self) -> bool:
        return self.consent_at is not None

    @property
    def profile(self) -> Profile:
        return Profile(
            role=self.answers.get("role"),
            region=self.answers.get("region"),
            age_band=self.answers.get("age_band"),
        )


class ParticipantChanges(TypedDict, total=False):
    """The columns of a participant's row a decision may change (unset: unchanged)."""

    language: str | None
    consent_at: datetime | None
    refused_at: datetime | None
    answers: dict[str, str | None]  # question key -> option key (None: not said)
    state: dict[str, Any]  # JSON: where the person is in the conversation
    opted_out: bool
    followups: bool | None
    unreachable: bool


@dataclass(frozen=True)
class NewContribution:
    kind: str
    participant_id: int
    text: str
    channel: str
    channel_message_id: str
    label: str
    created_at: datetime
    question_id: int | None = None
    parent_id: int | None = None
    language: str | None = None
    polarity: float | None = None
    subjectivity: float | None = None
    redactions: tuple[str, ...] = ()
    status: str = "visible"
    moderation_reason: str | None = None
    assisted: bool = False
    profile: Profile = field(default_factory=Profile)
    worker_code: str | None = None  # who entered an assisted contribution
    sentiment_confidence: float | None = None  # the label's calibrated probability


@dataclass(frozen=True)
class ContributionRecord:
    id: int
    kind: str
    question_id: int | None
    parent_id: int | None
    participant_id: int
    text: str
    language: str | None
    polarity: float | None
    subjectivity: float | None
    label: str
    redactions: tuple[str, ...]
    status: str
    moderation_reason: str | None
    channel: str
    assisted: bool
    channel_message_id: str
    duplicate_of: int | None
    agree_count: int
    disagree_count: int
    skip_count: int
    score: float
    created_at: datetime
    number: int | None = None  # an idea's own number ("idea 7"); None for a comment
    worker_code: str | None = None
    sentiment_confidence: float | None = None  # None where the analyser gives none

    @property
    def shown_number(self) -> int:
        """The number people see: the idea number, or the id where there is none."""
        return self.number if self.number is not None else self.id


@dataclass(frozen=True)
class VoteRecord:
    participant_id: int
    contribution_id: int
    value: int
    channel: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ParticipantActivity:
    ideas: int
    comments: int
    votes: int
    recent_ideas: tuple[str, ...]


@dataclass(frozen=True)
class ErasureCounts:
    participants: int = 0
    contributions: int = 0
    votes: int = 0
    contacts: int = 0
    outbox: int = 0


@dataclass(frozen=True)
class FailedRecord:
    id: int
    channel: str
    message_id: str
    raw: str
    error: str
    attempts: int
    status: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class OutboxRecord:
    id: int
    participant_id: int
    channel: str
    text: str
    status: str
    attempts: int
    next_attempt_at: datetime
    address_encrypted: bytes | None = None
    created_at: datetime | None = None
