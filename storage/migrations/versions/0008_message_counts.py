"""message counts: messages per person per minute, shared by every worker, for the
messages_per_minute limit on PostgreSQL

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_counts",
        sa.Column("person_minute", sa.String(length=64), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("person_minute", "minute"),
    )
    op.create_index("ix_message_counts_minute", "message_counts", ["minute"])


def downgrade() -> None:
    op.drop_index("ix_message_counts_minute", table_name="message_counts")
    op.drop_table("message_counts")
