"""kept replies: the replies to a message, kept with its processed id for a while, so a
message the provider sends again is answered the same way

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("processed_messages") as table:
        table.add_column(sa.Column("replies", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("processed_messages") as table:
        table.drop_column("replies")
