"""The grouped-commit writer's store side: reads for deciding, and a batch of decisions
applied in one transaction with SQLAlchemy Core on a synchronous connection.

`run_pipeline` is called by `Store.run_batch` in one hop to the driver's thread (SQLite)
or inside one `run_sync` (PostgreSQL). For each message it loads the person's snapshot
and lets the caller decide (pure Python, no transaction open: reads are in their own
short read transaction); then it opens ONE write transaction and applies every message
in arrival order. Optimistically with no savepoints; if one message fails, the batch is
undone and applied again with each message inside its own SAVEPOINT, so that it fails
alone. A
message whose snapshot went stale (an earlier message of the same person in the batch,
or another worker) is decided again from the row as it now is. The tallies of the whole
batch are summed and written once per key, just before the single commit.

What a decision reads is storage/batch_reads.py; how one decided message is applied,
storage/batch_apply.py; this module runs the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    Connection,
    text,
)

from storage import replies as kept_replies
from storage.batch_apply import (
    UNREAD,
    Applied,
    BatchTallies,
    Decide,
    Eraser,
    Message,
    OnErase,
    Replays,
    Unread,
    apply_one,
)
from storage.batch_reads import Reader
from storage.effects import (
    Decision,
)
from storage.grouping import Grouping
from storage.message_counts import MessageCounts
from storage.records import ParticipantRecord
from storage.sync_bridge import SyncSession, run_now


def run_pipeline(
    read: Connection,
    write: Connection,
    messages: Sequence[Message],
    decide: Decide,
    *,
    backend: str,
    grouping: Grouping,
    on_erase: OnErase,
    replays: Replays | None = None,
    counts: MessageCounts | None = None,
) -> list[Applied | BaseException]:
    """Decide every message and apply them all in one transaction (see the module).

    PostgreSQL: snapshots are read and every message decided with no transaction open
    (the read connection is in autocommit), then the one write transaction takes each
    person's advisory lock and re-decides a message whose snapshot went stale.
    SQLite has a single writer, this thread, which holds the write lock for the whole
    hop anyway: each message is decided from the row as it is inside the transaction
    (so nothing can be stale), right before it is applied.
    `counts` holds messages per minute across workers (PostgreSQL only: SQLite has one
    process, whose memory counts them all).
    """
    # Optimistic: no savepoint per message (a SAVEPOINT and its RELEASE cost a third of
    # applying a message). A message that fails then undoes the whole batch, which is
    # applied again with a savepoint each, so that it fails alone.
    try:
        return _run_once(read, write, messages, decide, backend, grouping, on_erase, replays,
                         counts, isolate=False)  # fmt: skip
    except _MessageFailed:
        return _run_once(read, write, messages, decide, backend, grouping, on_erase, replays,
                         counts, isolate=True)  # fmt: skip


class _MessageFailed(Exception):
    """A message failed in a batch applied without savepoints: undo, apply with them."""


def _run_once(
    read: Connection,
    write: Connection,
    messages: Sequence[Message],
    decide: Decide,
    backend: str,
    grouping: Grouping,
    on_erase: OnErase,
    replays: Replays | None,
    counts: MessageCounts | None,
    *,
    isolate: bool,
) -> list[Applied | BaseException]:
    if backend == "postgresql":
        return _decide_then_apply(
            read, write, messages, decide, grouping, on_erase, replays, counts, isolate
        )
    results: list[Applied | BaseException] = []
    with write.begin():
        _drop_old_replies(write, replays)
        reader = Reader(write)
        firsts = _FirstReads(reader, messages)
        totals = BatchTallies(SyncSession(write), backend, grouping)
        eraser = Eraser(write, backend, grouping, on_erase)
        for index, message in enumerate(messages):
            try:
                person = firsts.person(message.pseudonym)
                decision = decide(index, person, reader)
            except Exception as error:  # a bug in one flow fails that message alone
                if _is_fatal(error):
                    raise
                results.append(error)
                continue
            results.append(
                _apply_in_batch(
                    write, totals, eraser, message, person, decision, index, None, replays,
                    isolate,
                )
            )  # fmt: skip
        _keep_replies(write, messages, results)
        run_now(totals.flush())
    return results


def _decide_then_apply(
    read: Connection,
    write: Connection,
    messages: Sequence[Message],
    decide: Decide,
    grouping: Grouping,
    on_erase: OnErase,
    replays: Replays | None,
    counts: MessageCounts | None,
    isolate: bool,
) -> list[Applied | BaseException]:
    reader = Reader(read)
    before = reader.people({m.pseudonym for m in messages})  # as committed: one statement
    snapshots: list[ParticipantRecord | None] = []
    decisions: list[Decision | BaseException] = []
    for index, message in enumerate(messages):
        person = before.get(message.pseudonym)
        snapshots.append(person)
        try:
            decisions.append(decide(index, person, reader))
        except Exception as error:  # a bug in one flow fails that message alone
            if _is_fatal(error):
                raise
            decisions.append(error)
    results: list[Applied | BaseException] = []
    with write.begin():
        # Two workers serving one person take turns; keys in one order, no deadlock.
        write.execute(ADVISORY_LOCKS, {"keys": sorted({m.pseudonym for m in messages})})
        _drop_old_replies(write, replays)
        sent = [(m.pseudonym, m.now) for m in messages]
        refused = counts.refused(write, sent) if counts is not None else {}
        totals = BatchTallies(SyncSession(write), "postgresql", grouping)
        eraser = Eraser(write, "postgresql", grouping, on_erase)
        firsts = _FirstReads(Reader(write), messages)  # under the locks: as it now stands
        for index, message in enumerate(messages):
            if index in refused:  # over messages_per_minute: nothing is stored
                results.append(Applied(refused[index]))
                continue
            decision = decisions[index]
            if isinstance(decision, BaseException):
                results.append(decision)
                continue
            results.append(
                _apply_in_batch(
                    write, totals, eraser, message, snapshots[index], decision, index, decide,
                    replays, isolate, current=firsts.person_or_unread(message.pseudonym),
                )
            )  # fmt: skip
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

    def __init__(self, reader: Reader, messages: Sequence[Message]) -> None:
        self._reader = reader
        self._held = reader.people({m.pseudonym for m in messages})
        self._used: set[str] = set()

    def person_or_unread(self, pseudonym: str) -> ParticipantRecord | None | Unread:
        if pseudonym in self._used:
            return UNREAD
        self._used.add(pseudonym)
        return self._held.get(pseudonym)

    def person(self, pseudonym: str) -> ParticipantRecord | None:
        found = self.person_or_unread(pseudonym)
        return self._reader.person(pseudonym) if isinstance(found, Unread) else found


def _apply_in_batch(
    write: Connection,
    totals: BatchTallies,
    eraser: Eraser,
    message: Message,
    snapshot: ParticipantRecord | None,
    decision: Decision,
    index: int,
    decide: Decide | None,
    replays: Replays | None,
    isolate: bool,
    *,
    current: ParticipantRecord | None | Unread = UNREAD,
) -> Applied | BaseException:
    """Apply one message. Isolated, inside its own savepoint: its error is returned, not
    raised, unless the whole transaction is lost. Not isolated: its error undoes the batch
    (`_MessageFailed`). A duplicate writes nothing either way."""
    if not isolate:
        try:
            return apply_one(
                write, message, snapshot, decision, index, decide, totals, eraser, replays,
                current=current,
            )
        except Exception as error:
            if _is_fatal(error):
                raise
            raise _MessageFailed from error
    tallies = BatchTallies(totals.session, totals.backend, totals.grouping)
    savepoint = write.begin_nested()
    try:
        applied = apply_one(
            write, message, snapshot, decision, index, decide, tallies, eraser, replays,
            current=current,
        )
    except Exception as error:
        savepoint.rollback()
        if _is_fatal(error):
            raise
        return error
    if applied.duplicate:
        savepoint.rollback()
    else:
        savepoint.commit()
        totals.merge(tallies)
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
