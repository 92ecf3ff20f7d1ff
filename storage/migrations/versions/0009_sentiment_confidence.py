"""sentiment confidence: the calibrated probability of a contribution's sentiment label,
kept beside the label (NULL where the analyser gives none: vader, textblob, unscored, and
every contribution stored before this revision)

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contributions", sa.Column("sentiment_confidence", sa.Float(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+), as in 0006: a batch copy of the table would drop
    # it first, and with foreign keys on that cascades to the votes.
    op.drop_column("contributions", "sentiment_confidence")
