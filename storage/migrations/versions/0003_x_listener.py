"""Schema for the hashtag listener: the reach (public metrics) of stored X posts.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "x_post_metrics",
        sa.Column(
            "contribution_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("likes", sa.Integer(), nullable=False),
        sa.Column("reposts", sa.Integer(), nullable=False),
        sa.Column("replies", sa.Integer(), nullable=False),
        sa.Column("quotes", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contribution_id"], ["contributions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("contribution_id"),
    )
    with op.batch_alter_table("x_post_metrics", schema=None) as batch_op:
        batch_op.create_index("ix_x_post_metrics_posted", ["posted_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("x_post_metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_x_post_metrics_posted")
    op.drop_table("x_post_metrics")
