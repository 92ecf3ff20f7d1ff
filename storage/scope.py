"""The part of the consultation a report covers: one question (or all), from one day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time


@dataclass(frozen=True)
class Scope:
    """Which part of the consultation a report covers: one question, from one day."""

    question_id: int | None = None
    since: date | None = None  # first UTC day included

    @property
    def since_at(self) -> datetime | None:
        return datetime.combine(self.since, time.min, tzinfo=UTC) if self.since else None
