"""outbox address: where an outbox message goes when it is not a follow-up to a stored
contact (replies a chat channel had not sent when Chorus stopped during a provider's
outage), encrypted like contacts and cleared once the message is sent or given up

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("address_encrypted", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+), as in 0006 and 0009.
    op.drop_column("outbox", "address_encrypted")
