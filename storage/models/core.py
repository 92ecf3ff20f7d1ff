"""The core tables: questions, participants, contributions, votes and bookkeeping.

The schema itself is owned by the Alembic migrations in storage/migrations; these classes
must match them (a test compares the two).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY, so big ids are plain integers there.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """Timestamps stored in UTC and always read back timezone-aware, on every backend
    (SQLite keeps no zone, so without this it would hand back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime()}


class Question(Base):
    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    text: Mapped[str] = mapped_column(Text)
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]


class Participant(Base):
    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Keyed HMAC of channel + platform id; the platform id itself is never stored.
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(8))
    consent_at: Mapped[datetime | None]
    refused_at: Mapped[datetime | None]
    answers: Mapped[dict] = mapped_column(JSON, default=dict)
    state: Mapped[dict] = mapped_column(JSON, default=dict)
    # Current answers to the three standard gateway questions, copied for SQL reports.
    role: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(64))
    age_band: Mapped[str | None] = mapped_column(String(64))
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    followups: Mapped[bool | None] = mapped_column(Boolean)
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class Contact(Base):
    """How to reach a participant who opted in to follow-ups, encrypted at rest."""

    __tablename__ = "contacts"

    participant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    address_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class Contribution(Base):
    __tablename__ = "contributions"
    __table_args__ = (
        UniqueConstraint("channel", "channel_message_id", name="uq_contribution_channel_message"),
        CheckConstraint("kind IN ('idea', 'comment')", name="ck_contribution_kind"),
        CheckConstraint(
            "status IN ('visible', 'pending', 'hidden')", name="ck_contribution_status"
        ),
        Index("ix_contributions_vote_queue", "kind", "status", "vote_count"),
        Index("ix_contributions_participant", "participant_id"),
        Index("ix_contributions_parent", "parent_id"),
        Index("ix_contributions_created", "created_at"),
        Index("ix_contributions_idea_number", "idea_number", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    # Ideas are numbered 1, 2, 3, ... in their own sequence ("idea 7"); comments have none.
    idea_number: Mapped[int | None] = mapped_column(Integer)
    question_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("questions.id", ondelete="SET NULL")
    )
    parent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("contributions.id", ondelete="SET NULL")
    )
    participant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("participants.id", ondelete="CASCADE")
    )
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(8))
    polarity: Mapped[float | None] = mapped_column(Float)
    subjectivity: Mapped[float | None] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(12))
    # The label's calibrated probability; NULL where the analyser gives none.
    sentiment_confidence: Mapped[float | None] = mapped_column(Float)
    redactions: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(8), default="visible")
    moderation_reason: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    assisted: Mapped[bool] = mapped_column(Boolean, default=False)
    # The community worker who entered an assisted contribution (e.g. from a paper form).
    worker_code: Mapped[str | None] = mapped_column(String(32))
    channel_message_id: Mapped[str] = mapped_column(String(128))
    duplicate_of: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("contributions.id", ondelete="SET NULL")
    )
    # Who was speaking, as they described themselves when they contributed.
    role: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(64))
    age_band: Mapped[str | None] = mapped_column(String(64))
    # Vote tallies kept in step with the votes table, so ranking is an index scan.
    agree_count: Mapped[int] = mapped_column(Integer, default=0)
    disagree_count: Mapped[int] = mapped_column(Integer, default=0)
    skip_count: Mapped[int] = mapped_column(Integer, default=0)
    vote_count: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime]


class Vote(Base):
    __tablename__ = "votes"
    __table_args__ = (
        UniqueConstraint("participant_id", "contribution_id", name="uq_vote_participant_idea"),
        CheckConstraint("value IN (-1, 0, 1)", name="ck_vote_value"),
        Index("ix_votes_contribution", "contribution_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("participants.id", ondelete="CASCADE")
    )
    contribution_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("contributions.id", ondelete="CASCADE")
    )
    value: Mapped[int] = mapped_column(SmallInteger)
    channel: Mapped[str] = mapped_column(String(16))
    role: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(64))
    age_band: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ProcessedMessage(Base):
    """Inbound message ids already applied; deliberately not linked to any participant."""

    __tablename__ = "processed_messages"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    processed_at: Mapped[datetime]
    # The replies sent, encrypted, kept for a while to answer a resent copy the same way
    # (storage/replies.py); None once dropped.
    replies: Mapped[str | None] = mapped_column(Text, default=None)


class MessageCount(Base):
    """Messages per person per minute, shared by every worker (the `messages_per_minute`
    limit on PostgreSQL, storage/message_counts.py). A row is keyed by a hash of the
    person's pseudonym and the minute, so it names nobody and links to no other row; rows
    older than the last minute are dropped."""

    __tablename__ = "message_counts"

    person_minute: Mapped[str] = mapped_column(String(64), primary_key=True)
    minute: Mapped[datetime] = mapped_column(primary_key=True, index=True)
    count: Mapped[int] = mapped_column(Integer)


class FailedInbound(Base):
    """Inbound messages whose handling raised, kept with the error to be retried."""

    __tablename__ = "failed_inbound"
    __table_args__ = (UniqueConstraint("channel", "message_id", name="uq_failed_channel_message"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str] = mapped_column(String(128))
    raw: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(12), default="failed")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Checkpoint(Base):
    """Named positions of listeners (e.g. the newest post id seen), moved in transactions."""

    __tablename__ = "checkpoints"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime]


class OutboxMessage(Base):
    """Messages to send later to someone other than the sender (follow-ups)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("participants.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    # Where to send it when not to the person's stored contact (the copy of replies a chat
    # channel could not send yet), encrypted; cleared once sent or given up.
    address_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(12), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
