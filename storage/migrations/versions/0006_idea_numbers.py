"""idea numbers in their own sequence, and the worker code of an assisted contribution

Ideas already stored are numbered 1, 2, 3, ... in the order they came in; comments get no
number. The next number is kept as the checkpoint "ideas.next_number" (its row lock makes
two writers take turns, so no number is given twice).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contributions", sa.Column("idea_number", sa.Integer(), nullable=True))
    op.add_column("contributions", sa.Column("worker_code", sa.String(length=32), nullable=True))
    op.execute(
        "UPDATE contributions SET idea_number = numbered.n FROM "
        "(SELECT id, row_number() OVER (ORDER BY id) AS n FROM contributions "
        "WHERE kind = 'idea') AS numbered WHERE contributions.id = numbered.id"
    )
    op.execute(
        "INSERT INTO checkpoints (name, value, updated_at) SELECT 'ideas.next_number', "
        "CAST(COALESCE(MAX(idea_number), 0) + 1 AS VARCHAR(128)), CURRENT_TIMESTAMP "
        "FROM contributions"
    )
    op.create_index("ix_contributions_idea_number", "contributions", ["idea_number"], unique=True)


def downgrade() -> None:
    op.execute("DELETE FROM checkpoints WHERE name = 'ideas.next_number'")
    op.drop_index("ix_contributions_idea_number", table_name="contributions")
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of the table would drop it first,
    # and with foreign keys on that cascades to the votes.
    op.drop_column("contributions", "worker_code")
    op.drop_column("contributions", "idea_number")
