"""Messages per person per minute counted in the store, so that the `messages_per_minute`
limit holds across PostgreSQL workers (each worker's memory only sees its own share:
handlers/limits.py `MessageRate` stays in front of the queue as the cheap first check).

The batch writer (storage/batch.py) counts a whole batch in its write transaction, after
it has taken each person's advisory lock, with ONE statement: every person's messages of
the batch added to their row for the current (clock) minute, the new totals returned
with the count of the minute before. A message's place is a sliding minute, estimated
from the two fixed ones: its place in the current minute plus the previous minute's
count weighted by how much of that minute is still inside the last 60 seconds. Fixed
minutes alone would let a flood through twice over across a minute's boundary (the limit
in the last seconds of one minute, and again in the first seconds of the next). A message
whose place is past the limit is refused: the first one over gets the polite reply, later
ones nothing, and none of them stores anything (not even its id). Rows older than the
previous minute are dropped once a minute by each worker.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from storage.effects import Decision

# The batch's rows added, and each returned with the previous minute's count (as it was
# before this statement: one that the batch also adds to is read from the rows returned).
ADD = text(
    "WITH batch AS (SELECT * FROM unnest(CAST(:people AS text[]), "
    "CAST(:minutes AS timestamptz[]), CAST(:counts AS int[]), CAST(:earlier AS text[])) "
    "AS t(p, m, n, e)), "
    "added AS (INSERT INTO message_counts (person_minute, minute, count) "
    "SELECT p, m, n FROM batch "
    "ON CONFLICT (person_minute, minute) "
    "DO UPDATE SET count = message_counts.count + excluded.count "
    "RETURNING person_minute, minute, count) "
    "SELECT added.person_minute, added.minute, added.count, "
    "COALESCE(before.count, 0) AS earlier "
    "FROM added JOIN batch ON batch.p = added.person_minute AND batch.m = added.minute "
    "LEFT JOIN message_counts AS before ON before.person_minute = batch.e "
    "AND before.minute = batch.m - INTERVAL '1 minute'"
)
DROP_BEFORE = text("DELETE FROM message_counts WHERE minute < :minute")
MINUTE = timedelta(minutes=1)


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
        if not sent:
            return {}
        keys = [(person_minute(pseudonym, minute_of(when)), minute_of(when))
                for pseudonym, when in sent]  # fmt: skip
        earlier = {
            key: person_minute(pseudonym, key[1] - MINUTE)
            for key, (pseudonym, _when) in zip(keys, sent, strict=True)
        }
        added = Counter(keys)
        self._drop_old(write, max(minute for _p, minute in keys) - MINUTE)
        people, minutes = zip(*added, strict=True)
        params = {
            "people": list(people),
            "minutes": list(minutes),
            "counts": list(added.values()),
            "earlier": [earlier[key] for key in added],
        }
        rows = write.execute(ADD, params).all()
        totals = {(key, minute): total for key, minute, total, _before in rows}
        # The place of each message in its minute: before the batch, then one by one.
        place = {
            (key, minute): total - added[(key, minute)] for (key, minute), total in totals.items()
        }
        before = {
            (key, minute): totals.get((earlier[(key, minute)], minute - MINUTE), count)
            for key, minute, _total, count in rows
        }
        refusals: dict[int, Decision] = {}
        for index, key in enumerate(keys):
            place[key] += 1
            still_inside = 1 - (sent[index][1] - key[1]) / MINUTE
            estimate = place[key] + math.floor(before[key] * still_inside)
            if estimate > self.per_minute:
                # Each message adds one, and the weight only shrinks: the first one over
                # is exactly one past the limit.
                refusals[index] = self.refusal(estimate == self.per_minute + 1)
        return refusals

    def _drop_old(self, write: Connection, minute: datetime) -> None:
        if self._dropped_before is None or minute > self._dropped_before:
            write.execute(DROP_BEFORE, {"minute": minute})
            self._dropped_before = minute
