"""SQLAlchemy table definitions: the one shared store every channel writes to.

The schema itself is owned by the Alembic migrations in storage/migrations; these classes
must match them (a test compares the two).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY, so big ids are plain integers there.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """Timestamps stored in UTC and always read back timezone-aware, on every backend
    (SQLite keeps no zone, so without this it would hand back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
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
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
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
    redactions: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(8), default="visible")
    moderation_reason: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    assisted: Mapped[bool] = mapped_column(Boolean, default=False)
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


# --- X hashtag listener (issue 4) -----------------------------------------------------


class PostMetrics(Base):
    """Reach of a stored public post (likes, reposts, replies, quotes), refreshed while
    the post is young. Goes with its contribution when that is erased."""

    __tablename__ = "x_post_metrics"
    __table_args__ = (Index("ix_x_post_metrics_posted", "posted_at"),)

    contribution_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("contributions.id", ondelete="CASCADE"), primary_key=True
    )
    posted_at: Mapped[datetime]
    likes: Mapped[int] = mapped_column(Integer, default=0)
    reposts: Mapped[int] = mapped_column(Integer, default=0)
    replies: Mapped[int] = mapped_column(Integer, default=0)
    quotes: Mapped[int] = mapped_column(Integer, default=0)
    refreshed_at: Mapped[datetime]


# --- Team insights (issue 6) ------------------------------------------------------------
# Aggregates kept in step with contributions and votes in the same transaction (see
# storage/tallies.py), so the team's reports read a few hundred rows instead of millions;
# themes and similar ideas found by background jobs; the durable job queue.

# Indexes on the core tables that the reports need.
Index(
    "ix_contributions_ranking",
    Contribution.kind,
    Contribution.status,
    Contribution.score,
    Contribution.id,
)
Index("ix_contributions_status", Contribution.status, Contribution.id)
Index("ix_votes_created", Vote.created_at)
Index("ix_participants_created", Participant.created_at)


class ActivityCount(Base):
    """Contributions and votes counted per UTC day, question, kind and one dimension.

    Every contribution adds one to a row for each of its dimensions (channel, label,
    language, status, role, region, age band, role and label together); every vote to
    one for each of channel, value, role, region, age band. `question_id` 0 means none;
    `value` '' means not given. Group figures are the snapshot taken when they acted.
    """

    __tablename__ = "activity_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    question_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(96), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class VoteHour(Base):
    """Votes per hour (hours since 1970, UTC) and question (0: none), so the rolling
    "last 24 hours" figures add up 24 rows instead of counting the votes table."""

    __tablename__ = "vote_hours"

    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class Participation(Base):
    """Who took part, as whom: one row per question, answer and person, so that counting
    people in a group is counting rows in one range of the primary key.

    `dimension` is what the row counts by: "person" (value ''), "channel", "role",
    "role_group", "region", "age_band", or a group and the channel it came through
    ("role_group+channel", value "patient|sms"); answers are as given when the person
    contributed or voted. `actions` counts the contributions and votes behind a row,
    which is deleted at zero. `question_id` 0 means "any question": each action counts
    there too, so reports over all questions count each person once.
    """

    __tablename__ = "participation"
    __table_args__ = (
        Index("ix_participation_person", "participant_id"),
        {"sqlite_with_rowid": False},
    )

    question_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dimension: Mapped[str] = mapped_column(String(24), primary_key=True)
    value: Mapped[str] = mapped_column(String(160), primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True
    )
    actions: Mapped[int] = mapped_column(Integer, default=0)
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)


class IdeaRoleTally(Base):
    """An idea's votes split by the voters' role as it was when they voted."""

    __tablename__ = "idea_role_tallies"

    contribution_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("contributions.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(64), primary_key=True)
    agree: Mapped[int] = mapped_column(Integer, default=0)
    disagree: Mapped[int] = mapped_column(Integer, default=0)
    skip: Mapped[int] = mapped_column(Integer, default=0)


class IdeaScore(Base):
    """Per-idea rankings kept beside the idea: how split its votes are, and the lowest
    agree share across role groups with enough votes (NULL until two groups qualify)."""

    __tablename__ = "idea_scores"
    __table_args__ = (
        Index("ix_idea_scores_controversy", "controversy", "contribution_id"),
        Index("ix_idea_scores_consensus", "consensus", "consensus_votes", "contribution_id"),
    )

    contribution_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("contributions.id", ondelete="CASCADE"), primary_key=True
    )
    # The idea's question and time, copied (they never change) so that a ranking walks
    # this table's index and filters here, whatever the store's planner thinks.
    question_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    controversy: Mapped[float] = mapped_column(Float, default=0.0)
    consensus: Mapped[float | None] = mapped_column(Float)
    consensus_groups: Mapped[int] = mapped_column(Integer, default=0)
    consensus_votes: Mapped[int] = mapped_column(Integer, default=0)


class InsightRun(Base):
    """One background analysis of a question's ideas: themes or similar ideas."""

    __tablename__ = "insight_runs"
    __table_args__ = (
        CheckConstraint("kind IN ('themes', 'similar')", name="ck_insight_run_kind"),
        Index("ix_insight_runs_latest", "kind", "question_id", "status", "finished_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    question_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("questions.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(12), default="building")
    method: Mapped[str] = mapped_column(String(64))
    items: Mapped[int] = mapped_column(Integer, default=0)
    newest_item_id: Mapped[int] = mapped_column(BigInteger, default=0)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class Theme(Base):
    """A theme of one run. `number` is the team's name for it and survives re-clustering
    when the new theme mostly holds the same ideas."""

    __tablename__ = "themes"
    __table_args__ = (UniqueConstraint("run_id", "number", name="uq_theme_run_number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(BigId, ForeignKey("insight_runs.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(200))
    terms: Mapped[list] = mapped_column(JSON, default=list)
    size: Mapped[int] = mapped_column(Integer, default=0)
    positive: Mapped[int] = mapped_column(Integer, default=0)
    neutral: Mapped[int] = mapped_column(Integer, default=0)
    negative: Mapped[int] = mapped_column(Integer, default=0)
    unscored: Mapped[int] = mapped_column(Integer, default=0)
    representatives: Mapped[list] = mapped_column(JSON, default=list)


class ThemeMember(Base):
    __tablename__ = "theme_members"
    __table_args__ = (Index("ix_theme_members_theme", "run_id", "number"),)

    run_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("insight_runs.id", ondelete="CASCADE"), primary_key=True
    )
    contribution_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("contributions.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer)
    weight: Mapped[float] = mapped_column(Float, default=0.0)


class ThemeName(Base):
    """A team member's name for a theme number, used instead of its top terms."""

    __tablename__ = "theme_names"

    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    renamed_by: Mapped[str] = mapped_column(String(64))
    renamed_at: Mapped[datetime]


class ThemePin(Base):
    """An idea a team member moved into a theme; later runs keep it there."""

    __tablename__ = "theme_pins"

    contribution_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("contributions.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer)
    pinned_by: Mapped[str] = mapped_column(String(64))
    pinned_at: Mapped[datetime]


class SimilarPair(Base):
    """Two ideas that may say the same thing; a moderator merges or dismisses them."""

    __tablename__ = "similar_pairs"
    __table_args__ = (
        UniqueConstraint("idea_id", "other_id", name="uq_similar_pair"),
        CheckConstraint("idea_id < other_id", name="ck_similar_pair_order"),
        Index("ix_similar_pairs_open", "status", "similarity"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    question_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("questions.id", ondelete="CASCADE")
    )
    idea_id: Mapped[int] = mapped_column(BigId, ForeignKey("contributions.id", ondelete="CASCADE"))
    other_id: Mapped[int] = mapped_column(BigId, ForeignKey("contributions.id", ondelete="CASCADE"))
    similarity: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(12), default="open")
    found_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]


class Job(Base):
    """Slow work (charts, exports, re-clustering) done outside any webhook request.

    The result goes back to `reply_channel` at the address encrypted like a follow-up
    contact. `dedupe_key` stops a second identical scheduled job while one is pending.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_due", "status", "run_after"),
        Index("ix_jobs_dedupe", "dedupe_key", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(12), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime]
    reply_channel: Mapped[str | None] = mapped_column(String(16))
    reply_address_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    requested_by: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
