"""team insights: aggregates for fast reports, themes, similar ideas and background jobs

The aggregate tables are filled from the existing contributions and votes, so a store
that already has data reports the right figures straight after the upgrade.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CHECKPOINTS = "('insights.grouping', 'themes.next_number')"
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "activity_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=96), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "question_id", "kind", "dimension", "value"),
    )
    op.create_table(
        "vote_hours",
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "question_id"),
    )
    op.create_table(
        "participation",
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.String(length=24), nullable=False),
        sa.Column("value", sa.String(length=160), nullable=False),
        sa.Column("participant_id", BigId, nullable=False),
        sa.Column("actions", sa.Integer(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("question_id", "dimension", "value", "participant_id"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_participation_person", "participation", ["participant_id"])
    op.create_table(
        "idea_role_tallies",
        sa.Column("contribution_id", BigId, nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("agree", sa.Integer(), nullable=False),
        sa.Column("disagree", sa.Integer(), nullable=False),
        sa.Column("skip", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["contribution_id"], ["contributions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("contribution_id", "role"),
    )
    op.create_table(
        "idea_scores",
        sa.Column("contribution_id", BigId, nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("controversy", sa.Float(), nullable=False),
        sa.Column("consensus", sa.Float(), nullable=True),
        sa.Column("consensus_groups", sa.Integer(), nullable=False),
        sa.Column("consensus_votes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["contribution_id"], ["contributions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("contribution_id"),
    )
    op.create_index(
        "ix_idea_scores_consensus",
        "idea_scores",
        ["consensus", "consensus_votes", "contribution_id"],
    )
    op.create_index("ix_idea_scores_controversy", "idea_scores", ["controversy", "contribution_id"])
    op.create_table(
        "insight_runs",
        sa.Column("id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("newest_item_id", sa.BigInteger(), nullable=False),
        sa.Column("started_at", Stamp, nullable=False),
        sa.Column("finished_at", Stamp, nullable=True),
        sa.CheckConstraint("kind IN ('themes', 'similar')", name="ck_insight_run_kind"),
        sa.ForeignKeyConstraint(["question_id"], ["questions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_insight_runs_latest", "insight_runs", ["kind", "question_id", "status", "finished_at"]
    )
    op.create_table(
        "themes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("run_id", BigId, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("positive", sa.Integer(), nullable=False),
        sa.Column("neutral", sa.Integer(), nullable=False),
        sa.Column("negative", sa.Integer(), nullable=False),
        sa.Column("unscored", sa.Integer(), nullable=False),
        sa.Column("representatives", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["insight_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "number", name="uq_theme_run_number"),
    )
    op.create_table(
        "theme_members",
        sa.Column("run_id", BigId, nullable=False),
        sa.Column("contribution_id", BigId, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["contribution_id"], ["contributions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["insight_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "contribution_id"),
    )
    op.create_index("ix_theme_members_theme", "theme_members", ["run_id", "number"])
    op.create_table(
        "theme_names",
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("renamed_by", sa.String(length=64), nullable=False),
        sa.Column("renamed_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("number"),
    )
    op.create_table(
        "theme_pins",
        sa.Column("contribution_id", BigId, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("pinned_by", sa.String(length=64), nullable=False),
        sa.Column("pinned_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(["contribution_id"], ["contributions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("contribution_id"),
    )
    op.create_table(
        "similar_pairs",
        sa.Column("id", BigId, nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=True),
        sa.Column("idea_id", BigId, nullable=False),
        sa.Column("other_id", BigId, nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("found_at", Stamp, nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", Stamp, nullable=True),
        sa.CheckConstraint("idea_id < other_id", name="ck_similar_pair_order"),
        sa.ForeignKeyConstraint(["idea_id"], ["contributions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["other_id"], ["contributions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["question_id"], ["questions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idea_id", "other_id", name="uq_similar_pair"),
    )
    op.create_index("ix_similar_pairs_open", "similar_pairs", ["status", "similarity"])
    op.create_table(
        "jobs",
        sa.Column("id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", Stamp, nullable=False),
        sa.Column("reply_channel", sa.String(length=16), nullable=True),
        sa.Column("reply_address_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("dedupe_key", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("finished_at", Stamp, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_jobs_due", "jobs", ["status", "run_after"])
    op.create_index("ix_jobs_dedupe", "jobs", ["dedupe_key", "status"])

    op.create_index("ix_contributions_ranking", "contributions", ["kind", "status", "score", "id"])
    op.create_index("ix_contributions_status", "contributions", ["status", "id"])
    op.create_index("ix_participants_created", "participants", ["created_at"])
    op.create_index("ix_votes_created", "votes", ["created_at"])

    # Fill the aggregates from what the store already holds. Idea scores need the role
    # groups from config.yaml: forgetting their fingerprint makes Chorus compute them
    # at its next start (storage.insights.Insights.ensure_grouping).
    from storage.rebuild import rebuild_statements

    bind = op.get_bind()
    # Without what later revisions add (0011 fills its own dimension in, from a column
    # this revision's contributions table does not have yet).
    for statement in rebuild_statements(bind.dialect.name, skip=("confident_label",)):
        bind.execute(statement)
    op.execute(f"DELETE FROM checkpoints WHERE name IN {CHECKPOINTS}")


def downgrade() -> None:
    op.execute(f"DELETE FROM checkpoints WHERE name IN {CHECKPOINTS}")
    for index, table in (
        ("ix_votes_created", "votes"),
        ("ix_participants_created", "participants"),
        ("ix_contributions_status", "contributions"),
        ("ix_contributions_ranking", "contributions"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "jobs",
        "similar_pairs",
        "theme_pins",
        "theme_names",
        "theme_members",
        "themes",
        "insight_runs",
        "idea_scores",
        "idea_role_tallies",
        "participation",
        "vote_hours",
        "activity_counts",
    ):
        op.drop_table(table)
