"""Messages per person per minute counted in the store, so that the `messages_per_minute`
limit holds across PostgreSQL workers (each worker's memory only sees its own share:
handlers/limits.py `MessageRate` stays in front of the queue as the cheap first check).

The batch writer (storage/batch.py) counts a whole batch in its write transaction, after
it has taken each person's advisory lock, with ONE statement: every person's messages of
the batch added to their row for the current (clock) minute, the new totals returned.
A message whose place in its person's minute is past the limit is refused: the first one
over gets the polite reply, later ones nothing, and none of them stores anything (not even
its id). Rows of earlier minutes are dropped once a minute by each worker.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, text

from storage.effects import Decision

ADD = text(
    "INSERT INTO message_counts (person_minute, minute, count) "
    "SELECT p, m, n FROM unnest(CAST(:people AS text[]), CAST(:minutes AS timestamptz[]), "
    "CAST(:counts AS int[])) AS t(p, m, n) "
    "ON CONFLICT (person_minute, minute) "
    "DO UPDATE SET count = message_counts.count + excluded.count "
    "RETURNING person_minute, minute, count"
)
DROP_BEFORE = text("DELETE FROM message_counts WHERE minute < :minute")


def person_minute(pseudonym: str, minute: datetime) -> str:
    """A row's key: a hash of the pseudonym and the minute, so a counter names nobody
    (not even by pseudonym) and cannot be joined to the person's other rows."""
    return hashlib.sha256(f"{pseudonym}|{minute.isoformat()}".encode()).hexdigest()


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


@dataclass
class MessageCounts:
    """The limit and the decisions for a message over it (made by the engine: the
    polite reply for the first one over, `tell=True`, and silence after it)."""

    per_minute: int
    refusal: Callable[[bool], Decision]
    _dropped_before: datetime | None = field(default=None, repr=False)

    def refused(
        self, write: Connection, sent: Sequence[tuple[str, datetime]]
    ) -> dict[int, Decision]:
        """Count the batch's messages, given as (pseudonym, when) in arrival order; the
        refusals by index. Runs in the batch's write transaction (PostgreSQL only)."""
        keys = [(person_minute(pseudonym, minute_of(when)), minute_of(when))
                for pseudonym, when in sent]  # fmt: skip
        added = Counter(keys)
        if not added:
            return {}
        self._drop_old(write, max(minute for _p, minute in keys))
        people, minutes = zip(*added, strict=True)
        rows = write.execute(
            ADD, {"people": list(people), "minutes": list(minutes), "counts": list(added.values())}
        )
        # The place of each message in its minute: before the batch, then one by one.
        place = {}
        for key, minute, total in rows:
            place[(key, minute)] = total - added[(key, minute)]
        refusals: dict[int, Decision] = {}
        for index, key in enumerate(keys):
            place[key] += 1
            if place[key] > self.per_minute:
                refusals[index] = self.refusal(place[key] == self.per_minute + 1)
        return refusals

    def _drop_old(self, write: Connection, minute: datetime) -> None:
        if self._dropped_before is None or minute > self._dropped_before:
            write.execute(DROP_BEFORE, {"minute": minute})
            self._dropped_before = minute
