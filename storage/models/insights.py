"""The team insights' tables: aggregates kept in step with contributions and votes,
themes and similar ideas found by background jobs, and the durable job queue."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.core import Base, BigId, Contribution, Participant, Vote

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
