"""The grouped-commit writer's store side: reads for deciding, and a batch of decisions
applied in one transaction with SQLAlchemy Core on a synchronous connection.

`run_pipeline(read, write, batch)` is called by `Store.run_batch` in one hop to the
driver's thread (SQLite) or inside one `run_sync` (PostgreSQL). On PostgreSQL every
message is decided from the committed rows with no transaction open (after the batch's
`look_ahead` has read what they will ask for, handlers/look_ahead.py), then ONE write
transaction applies them in arrival order, deciding again any whose person changed
meanwhile (an earlier message of theirs in the batch, or another worker). On SQLite this
thread is the only writer, so each message is decided inside the transaction, right
before it is applied. Optimistically with no savepoints; if one message fails, the batch
is undone and applied again with each message inside its own SAVEPOINT, so that it fails
alone. The tallies of the whole batch are summed and written once per key, just before
the single commit.

What a decision reads is storage/batch_reads.py; how one decided message is applied,
storage/batch_apply.py; this module runs the batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    Connection,
    text,
)

from storage import replies as kept_replies
from storage.batch_apply import BatchTallies, Eraser, apply_one
from storage.batch_claims import claim_early
from storage.batch_reads import Reader
from storage.batch_types import (
    UNREAD,
    Applied,
    Decide,
    LookAhead,
    Message,
    OnErase,
    Replays,
    Unread,
)
from storage.effects import (
    Decision,
)
from storage.grouping import Grouping
from storage.message_counts import MessageCounts
from storage.person_updates import HeldUpdates
from storage.records import ParticipantRecord
from storage.sync_bridge import SyncSession, run_now

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Batch:
    """What the writer applies in one transaction: the messages in arrival order, how
    each is decided, and what applying them needs besides the connections.
    `counts` holds messages per minute across workers (PostgreSQL only: SQLite has one
    process, whose memory counts them all)."""

    messages: Sequence[Message]
    decide: Decide
    backend: str
    grouping: Grouping
    on_erase: OnErase
    replays: Replays | None = None
    counts: MessageCounts | None = None
    look_ahead: LookAhead | None = None  # PostgreSQL: called before deciding any message


def run_pipeline(
    read: Connection, write: Connection, batch: Batch
) -> list[Applied | BaseException]:
    """Decide every message and apply them all in one transaction (see the module).

    PostgreSQL: snapshots are read and every message decided with no transaction open
    (the read connection is in autocommit), then the one write transaction takes each
    person's advisory lock and re-decides a message whose snapshot went stale.
    SQLite has a single writer, this thread, which holds the write lock for the whole
    hop anyway: each message is decided from the row as it is inside the transaction
    (so nothing can be stale), right before it is applied.
    """
    # Optimistic: no savepoint per message (a SAVEPOINT and its RELEASE cost a third of
    # applying a message). A message that fails then undoes the whole batch, which is
    # applied again with a savepoint each, so that it fails alone.
    run = _decide_then_apply if batch.backend == "postgresql" else _decide_as_applied
    try:
        return run(read, write, batch, isolate=False)
    except _MessageFailed:
        return run(read, write, batch, isolate=True)


class _MessageFailed(Exception):
    """A message failed in a batch applied without savepoints: undo, apply with them."""


def _decide_as_applied(
    _read: Connection, write: Connection, batch: Batch, *, isolate: bool
) -> list[Applied | BaseException]:
    """SQLite: each message decided inside the transaction, right before it is applied."""
    results: list[Applied | BaseException] = []
    with write.begin():
        _drop_old_replies(write, batch.replays)
        reader = Reader(write)
        updates = HeldUpdates(write, hold=not isolate)
        totals = BatchTallies(SyncSession(write), batch.backend, batch.grouping)
        eraser = Eraser(write, batch.backend, batch.grouping, batch.on_erase)
        applying = _Applying(write, batch, totals, eraser, updates, isolate)
        firsts = _FirstReads(reader, batch.messages, applying.write_held)
        for index, message in enumerate(batch.messages):
            try:
                person = firsts.person(message.pseudonym)
                decision = batch.decide(index, person, reader)
            except _MessageFailed:  # the batch's held writes failed: undo, apply again
                raise
            except Exception as error:  # a bug in one flow fails that message alone
                if _is_fatal(error):
                    raise
                results.append(error)
                continue
            results.append(applying.one(index, person, decision, decided_outside=False))
        applying.write_held()
        _keep_replies(write, batch.messages, results)
        run_now(totals.flush())
    return results


def _decide_then_apply(
    read: Connection, write: Connection, batch: Batch, *, isolate: bool
) -> list[Applied | BaseException]:
    """PostgreSQL: decided from committed rows with no transaction open, then applied
    under each person's advisory lock, a stale decision taken again."""
    messages = batch.messages
    reader = Reader(read)
    before = reader.people({m.pseudonym for m in messages})  # as committed: one statement
    snapshots = [before.get(message.pseudonym) for message in messages]
    if batch.look_ahead is not None:
        try:
            batch.look_ahead(snapshots, reader)
        except Exception as error:  # only an economy: each message reads what it needs
            if _is_fatal(error):
                raise
            log.warning(
                "looking ahead at a batch's reads failed; reading one by one", exc_info=True
            )
    decisions: list[Decision | BaseException] = []
    for index, person in enumerate(snapshots):
        try:
            decisions.append(batch.decide(index, person, reader))
        except Exception as error:  # a bug in one flow fails that message alone
            if _is_fatal(error):
                raise
            decisions.append(error)
    results: list[Applied | BaseException] = []
    with write.begin():
        # Two workers serving one person take turns; keys in one order, no deadlock.
        write.execute(ADVISORY_LOCKS, {"keys": sorted({m.pseudonym for m in messages})})
        _drop_old_replies(write, batch.replays)
        sent = [(m.pseudonym, m.now) for m in messages]
        refused = batch.counts.refused(write, sent) if batch.counts is not None else {}
        totals = BatchTallies(SyncSession(write), "postgresql", batch.grouping)
        eraser = Eraser(write, "postgresql", batch.grouping, batch.on_erase)
        updates = HeldUpdates(write, hold=not isolate)
        applying = _Applying(write, batch, totals, eraser, updates, isolate)
        # Under the locks: as it now stands.
        firsts = _FirstReads(Reader(write), messages, applying.write_held)
        # Every id to claim, in one statement. Not when isolated: a claim made outside a
        # message's savepoint would outlive that message's failure.
        claimed = {} if isolate else claim_early(write, {
            index: message for index, message in enumerate(messages)
            if index not in refused and isinstance(decisions[index], Decision)
            and decisions[index].claim  # type: ignore[union-attr]
        })  # fmt: skip
        for index, message in enumerate(messages):
            if index in refused:  # over messages_per_minute: nothing is stored
                results.append(Applied(refused[index]))
                continue
            decision = decisions[index]
            if isinstance(decision, BaseException):
                results.append(decision)
                continue
            current = firsts.person_or_unread(message.pseudonym)
            results.append(
                applying.one(index, snapshots[index], decision, decided_outside=True,
                             current=current, claimed=claimed.get(index))
            )  # fmt: skip
        applying.write_held()
        _keep_replies(write, messages, results)
        run_now(totals.flush())
    return results


def _drop_old_replies(write: Connection, replays: Replays | None) -> None:
    if replays is not None and replays.drop_before is not None:
        kept_replies.drop_before(write, replays.drop_before)


ADVISORY_LOCKS = text(
    "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(CAST(:keys AS text[])) k"
)


class _FirstReads:
    """The batch's people read in one statement, each used for that person's first message
    only: a later message of theirs reads the row again, as the first may have changed it
    in this transaction."""

    def __init__(
        self, reader: Reader, messages: Sequence[Message], write_held: Callable[[], None]
    ) -> None:
        self._reader = reader
        self._held = reader.people({m.pseudonym for m in messages})
        self._used: set[str] = set()
        self._write_held = write_held

    def person_or_unread(self, pseudonym: str) -> ParticipantRecord | None | Unread:
        if pseudonym in self._used:
            return UNREAD
        self._used.add(pseudonym)
        return self._held.get(pseudonym)

    def person(self, pseudonym: str) -> ParticipantRecord | None:
        found = self.person_or_unread(pseudonym)
        if isinstance(found, Unread):
            self._write_held()  # their earlier message's UPDATE may be held
            return self._reader.person(pseudonym)
        return found


@dataclass(frozen=True)
class _Applying:
    """Applies the messages of one batch, each in turn, inside its open transaction."""

    write: Connection
    batch: Batch
    totals: BatchTallies
    eraser: Eraser
    updates: HeldUpdates  # held for the batch unless isolated
    isolate: bool  # a savepoint per message (the batch's second attempt)

    def write_held(self) -> None:
        """The held participant UPDATEs, before the batch commits. One that fails undoes
        the batch, applied again with a savepoint per message, where it fails alone."""
        try:
            self.updates.write_held()
        except Exception as error:
            if _is_fatal(error):
                raise
            raise _MessageFailed from error

    def one(
        self,
        index: int,
        snapshot: ParticipantRecord | None,
        decision: Decision,
        *,
        decided_outside: bool,
        current: ParticipantRecord | None | Unread = UNREAD,
        claimed: bool | None = None,
    ) -> Applied | BaseException:
        """Apply message `index`. Isolated, inside its own savepoint: its error is
        returned, not raised, unless the whole transaction is lost. Not isolated: its
        error undoes the batch (`_MessageFailed`). A duplicate writes nothing either way.
        `decided_outside`: decided before the transaction, so checked against `current`
        (the person's row as this transaction sees it) and decided again if stale.
        `claimed`: as `apply_one`'s (never given when isolated)."""
        batch = self.batch
        message = batch.messages[index]
        decide = batch.decide if decided_outside else None
        if not self.isolate:
            try:
                return apply_one(
                    self.write, message, snapshot, decision, index, decide, self.totals,
                    self.eraser, batch.replays, updates=self.updates, current=current,
                    claimed=claimed,
                )  # fmt: skip
            except Exception as error:
                if _is_fatal(error):
                    raise
                raise _MessageFailed from error
        tallies = BatchTallies(self.totals.session, self.totals.backend, self.totals.grouping)
        savepoint = self.write.begin_nested()
        try:
            applied = apply_one(
                self.write, message, snapshot, decision, index, decide, tallies, self.eraser,
                batch.replays, updates=self.updates, current=current,
            )  # fmt: skip
        except Exception as error:
            savepoint.rollback()
            if _is_fatal(error):
                raise
            return error
        if applied.duplicate:
            savepoint.rollback()
        else:
            savepoint.commit()
            self.totals.merge(tallies)
        return applied


def _is_fatal(error: BaseException) -> bool:
    """Errors that mean the whole transaction is lost (the store went away, a deadlock):
    the batch fails and is tried again or answered 503."""
    from storage.database import _is_unavailable, _lost_a_race

    return _lost_a_race(error) or _is_unavailable(error)


def _keep_replies(
    write: Connection, messages: Sequence[Message], results: Sequence[Applied | BaseException]
) -> None:
    """The replies of every message applied, beside its processed id: one statement."""
    kept = [
        (message.channel, message.message_id, result.to_keep)
        for message, result in zip(messages, results, strict=True)
        if isinstance(result, Applied) and result.to_keep is not None
    ]
    kept_replies.keep_many(write, kept)
