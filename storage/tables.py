"""The ORM models' tables as Core `Table` objects, for the batch writer's statements
(storage/batch_reads.py, storage/batch_apply.py, storage/batch_claims.py, storage/replies.py):
SQLAlchemy Core on the hot path."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from storage.models import (
    Checkpoint,
    Contact,
    Contribution,
    OutboxMessage,
    Participant,
    ProcessedMessage,
    Vote,
)

PARTICIPANTS = cast(Table, Participant.__table__)
CONTRIBUTIONS = cast(Table, Contribution.__table__)
VOTES = cast(Table, Vote.__table__)
PROCESSED = cast(Table, ProcessedMessage.__table__)
CONTACTS = cast(Table, Contact.__table__)
OUTBOX = cast(Table, OutboxMessage.__table__)
CHECKPOINTS = cast(Table, Checkpoint.__table__)
