"""confident sentiment: the contributions' activity counts by their sentiment label where
the analyser is confident of it (dimension `confident_label`: the label at a calibrated
probability of 0.7 or more, "unsure" below, "" where the analyser gives none), filled in
from the contributions already stored

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

DIMENSION = "confident_label"


def upgrade() -> None:
    from storage.rebuild import activity_dimension_statements

    bind = op.get_bind()
    for statement in activity_dimension_statements(bind.dialect.name, DIMENSION):
        bind.execute(statement)


def downgrade() -> None:
    op.execute(f"DELETE FROM activity_counts WHERE dimension = '{DIMENSION}'")
