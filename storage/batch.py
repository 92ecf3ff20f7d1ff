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
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Row,
    Select,
    Table,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from storage import activity as recent
from storage import replies as kept_replies
from storage.bookkeeping import _insert
from storage.contributions import NEXT_IDEA_NUMBER, contribution_record
from storage.effects import (
    AddContribution,
    CancelOutbox,
    CastVote,
    Decision,
    DropContact,
    Erase,
    SaveContact,
)
from storage.grouping import Grouping
from storage.message_counts import MessageCounts
from storage.models import (
    Checkpoint,
    Contact,
    Contribution,
    OutboxMessage,
    Participant,
    ProcessedMessage,
    Vote,
)
from storage.participants import participant_record
from storage.records import ContributionRecord, ParticipantActivity, ParticipantRecord, Profile
from storage.sync_bridge import SyncSession, run_now
from storage.tallies import IDEA_COUNT_COLUMN, Tallies
from storage.tally_keys import ContributionFacts, PersonKey, VoteFacts, day_of, hour_of

PARTICIPANTS = cast(Table, Participant.__table__)
CONTRIBUTIONS = cast(Table, Contribution.__table__)
VOTES = cast(Table, Vote.__table__)
PROCESSED = cast(Table, ProcessedMessage.__table__)
CONTACTS = cast(Table, Contact.__table__)
OUTBOX = cast(Table, OutboxMessage.__table__)
CHECKPOINTS = cast(Table, Checkpoint.__table__)

# last_seen_at is only moved when the row is written anyway, or when it is this old.
SEEN_EVERY = timedelta(hours=1)
_MUTABLE = frozenset(
    {"language", "consent_at", "refused_at", "answers", "state", "opted_out", "followups",
     "unreachable", "last_seen_at"}
)  # fmt: skip


# --- statements, built once (building and caching a statement costs more than running
# it on SQLite, so the hot path only binds values) ------------------------------------

PERSON_BY_PSEUDONYM = select(PARTICIPANTS).where(PARTICIPANTS.c.pseudonym == bindparam("p"))
CONTRIBUTION_BY_ID = select(CONTRIBUTIONS).where(CONTRIBUTIONS.c.id == bindparam("id"))
IDEA_BY_NUMBER = select(CONTRIBUTIONS).where(CONTRIBUTIONS.c.idea_number == bindparam("n"))


def _candidates_query(with_exclusions: bool, pool: int) -> Select[Any]:
    c = CONTRIBUTIONS.c
    already_voted = exists().where(
        VOTES.c.contribution_id == c.id, VOTES.c.participant_id == bindparam("person")
    )
    query = (
        select(CONTRIBUTIONS)
        .where(
            c.kind == "idea",
            c.status == "visible",
            c.duplicate_of.is_(None),
            c.participant_id != bindparam("person"),
            c.question_id.in_(bindparam("questions", expanding=True)),
            ~already_voted,
        )
        .order_by(c.vote_count, c.id)
        .limit(pool)
    )
    if with_exclusions:
        query = query.where(c.id.not_in(bindparam("exclude", expanding=True)))
    return query


_CANDIDATES: dict[tuple[bool, int], Select[Any]] = {}


def _candidates(with_exclusions: bool, pool: int) -> Select[Any]:
    key = (with_exclusions, pool)
    if key not in _CANDIDATES:
        _CANDIDATES[key] = _candidates_query(with_exclusions, pool)
    return _CANDIDATES[key]


VOTE_OF = select(VOTES).where(
    VOTES.c.participant_id == bindparam("person"), VOTES.c.contribution_id == bindparam("idea")
)
VOTE_OF_LOCKED = VOTE_OF.with_for_update()
IDEA_QUESTION = select(CONTRIBUTIONS.c.question_id).where(CONTRIBUTIONS.c.id == bindparam("idea"))
INSERT_VOTE = insert(VOTES)
UPDATE_VOTE = (
    update(VOTES)
    .where(VOTES.c.id == bindparam("k_id"))
    .values(
        value=bindparam("v_value"),
        channel=bindparam("v_channel"),
        updated_at=bindparam("v_updated_at"),
        role=bindparam("v_role"),
        region=bindparam("v_region"),
        age_band=bindparam("v_age_band"),
    )
)
INSERT_PERSON = insert(PARTICIPANTS).returning(PARTICIPANTS.c.id)
INSERT_CONTRIBUTION = insert(CONTRIBUTIONS).returning(CONTRIBUTIONS.c.id)
_CLAIMS: dict[str, Any] = {}
_PERSON_UPDATES: dict[frozenset[str], Any] = {}


def _claim_statement(dialect: str) -> Any:
    if dialect not in _CLAIMS:
        _CLAIMS[dialect] = (
            _insert(dialect)(PROCESSED)
            .values(
                channel=bindparam("channel"),
                message_id=bindparam("message_id"),
                processed_at=bindparam("now"),
            )
            .on_conflict_do_nothing(index_elements=["channel", "message_id"])
        )
    return _CLAIMS[dialect]


def _person_update(columns: frozenset[str]) -> Any:
    if columns not in _PERSON_UPDATES:
        _PERSON_UPDATES[columns] = (
            update(PARTICIPANTS)
            .where(PARTICIPANTS.c.id == bindparam("k_id"))
            .values({name: bindparam(f"v_{name}") for name in sorted(columns)})
        )
    return _PERSON_UPDATES[columns]


# --- reads ---------------------------------------------------------------------------


def _person(row: Row[Any]) -> ParticipantRecord:
    # A Core row has the ORM object's attribute names: one mapping serves both.
    return participant_record(cast(Participant, row))


def _contribution(row: Row[Any]) -> ContributionRecord:
    # A Core row has the ORM object's attribute names: one mapping serves both.
    return contribution_record(cast(Contribution, row))


class Reader:
    """What a decision may read, on a synchronous connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def person(self, pseudonym: str) -> ParticipantRecord | None:
        row = self.connection.execute(PERSON_BY_PSEUDONYM, {"p": pseudonym}).first()
        return _person(row) if row else None

    def contribution(self, contribution_id: int) -> ContributionRecord | None:
        row = self.connection.execute(CONTRIBUTION_BY_ID, {"id": contribution_id}).first()
        return _contribution(row) if row else None

    def idea_by_number(self, number: int) -> ContributionRecord | None:
        row = self.connection.execute(IDEA_BY_NUMBER, {"n": number}).first()
        return _contribution(row) if row else None

    def ideas_of_question(
        self, question_id: int, after_id: int, limit: int = 50_000
    ) -> list[tuple[int, str]]:
        """(id, text) of the question's ideas with an id above `after_id`, oldest first,
        whatever their status (see handlers/likeness_cache.py, which checks it on use)."""
        c = CONTRIBUTIONS.c
        rows = self.connection.execute(
            select(c.id, c.text)
            .where(c.question_id == question_id, c.kind == "idea", c.id > after_id)
            .order_by(c.id)
            .limit(limit)
        )
        return [(row.id, row.text) for row in rows]

    def voting_candidates(
        self,
        participant_id: int,
        question_ids: Collection[int],
        exclude: Collection[int],
        pool: int,
    ) -> tuple[ContributionRecord, ...]:
        """The least-voted ideas this person may vote on (see Contributions.next_for_voting,
        whose random draw among them the flow makes)."""
        if not question_ids:
            return ()
        params = {"person": participant_id, "questions": list(question_ids)}
        if exclude:
            params["exclude"] = list(exclude)
        rows = list(self.connection.execute(_candidates(bool(exclude), pool), params))
        if not rows:
            return ()
        fewest = rows[0].vote_count
        return tuple(_contribution(r) for r in rows if r.vote_count <= fewest + 1)

    def contributions_since(self, participant_id: int, kind: str, since: datetime) -> int:
        return recent.contributions_since(self.connection, participant_id, kind, since)

    def votes_since(self, participant_id: int, since: datetime) -> int:
        return recent.votes_since(self.connection, participant_id, since)

    def same_idea(self, participant_id: int, text: str) -> int | None:
        return recent.same_idea(self.connection, participant_id, text)

    def activity(self, participant_id: int, *, recent: int = 3) -> ParticipantActivity:
        c = CONTRIBUTIONS.c
        counts: dict[str, int] = dict(
            self.connection.execute(
                select(c.kind, func.count())
                .where(c.participant_id == participant_id)
                .group_by(c.kind)
            ).all()
        )
        votes = self.connection.scalar(
            select(func.count()).select_from(VOTES).where(VOTES.c.participant_id == participant_id)
        )
        texts = self.connection.scalars(
            select(c.text)
            .where(c.participant_id == participant_id, c.kind == "idea")
            .order_by(c.id.desc())
            .limit(recent)
        )
        return ParticipantActivity(
            ideas=counts.get("idea", 0),
            comments=counts.get("comment", 0),
            votes=votes or 0,
            recent_ideas=tuple(texts),
        )


def ideas_page(
    connection: Connection, question_id: int, after_id: int, limit: int
) -> list[tuple[int, str]]:
    """`Reader.ideas_of_question` for `AsyncConnection.run_sync` (warming an index)."""
    return Reader(connection).ideas_of_question(question_id, after_id, limit)


# --- the batch ------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One message of a batch as the store sees it."""

    channel: str
    message_id: str
    pseudonym: str
    now: datetime


@dataclass(frozen=True)
class Applied:
    """What became of one message: its decision, and the number of a contribution it
    stored; `duplicate` when its id had been applied before (nothing changed)."""

    decision: Decision | None = None
    new_number: int | None = None
    duplicate: bool = False
    kept_replies: str | None = None  # a duplicate's replies kept from the first time
    to_keep: str | None = None  # an applied message's replies, kept for a resent copy


@dataclass(frozen=True)
class Replays:
    """How the replies of each applied message are kept with its processed id, so a
    resent copy is answered the same way (handlers/replay.py makes the opaque string)."""

    encode: Callable[[Decision, int | None], str]  # (decision, new number) -> kept
    window: timedelta  # a duplicate older than this gets no replies
    drop_before: datetime | None = None  # drop older replies in this batch


# decide(index, person snapshot, reader) -> Decision; called again on a stale snapshot.
Decide = Callable[[int, ParticipantRecord | None, Reader], Decision]
# Applies an Erase effect through the repositories (it needs the contact key): called
# with a Unit on this transaction, the person's id and the effect; returns a coroutine.
OnErase = Callable[[Any, int | None, Erase], Any]


class BatchTallies(Tallies):
    """Tallies that gather everything, people's participation too, and write it once."""

    def __init__(self, session: Any, backend: str, grouping: Grouping) -> None:
        super().__init__(session, backend, grouping)
        self._people: Counter[PersonKey] = Counter()
        self._people_days: dict[PersonKey, date] = {}

    async def apply_people(self, deltas: Counter[PersonKey], days: dict[PersonKey, date]) -> None:
        self._people.update(deltas)
        self._people_days.update(days)

    def merge(self, other: BatchTallies) -> None:
        self._activity.update(other._activity)
        self._hours.update(other._hours)
        for idea, change in other._idea_votes.items():
            self._idea_votes.setdefault(idea, Counter()).update(change)
        self._votes_removed += other._votes_removed
        self._votes_added += other._votes_added
        self._people.update(other._people)
        for key, day in other._people_days.items():
            self._people_days[key] = max(day, self._people_days.get(key, day))

    async def flush(self) -> None:
        await super().flush()
        people, self._people = self._people, Counter()
        days, self._people_days = self._people_days, {}
        if people:
            await Tallies.apply_people(self, people, days)


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
        totals = BatchTallies(SyncSession(write), backend, grouping)
        eraser = _Eraser(write, backend, grouping, on_erase)
        for index, message in enumerate(messages):
            try:
                person = reader.person(message.pseudonym)
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
    snapshots: list[ParticipantRecord | None] = []
    decisions: list[Decision | BaseException] = []
    for index, message in enumerate(messages):
        person = reader.person(message.pseudonym)
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
        eraser = _Eraser(write, "postgresql", grouping, on_erase)
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
                    replays, isolate,
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


def _apply_in_batch(
    write: Connection,
    totals: BatchTallies,
    eraser: _Eraser,
    message: Message,
    snapshot: ParticipantRecord | None,
    decision: Decision,
    index: int,
    decide: Decide | None,
    replays: Replays | None,
    isolate: bool,
) -> Applied | BaseException:
    """Apply one message. Isolated, inside its own savepoint: its error is returned, not
    raised, unless the whole transaction is lost. Not isolated: its error undoes the batch
    (`_MessageFailed`). A duplicate writes nothing either way."""
    if not isolate:
        try:
            return _apply_one(
                write, message, snapshot, decision, index, decide, totals, eraser, replays
            )
        except Exception as error:
            if _is_fatal(error):
                raise
            raise _MessageFailed from error
    tallies = BatchTallies(totals.session, totals.backend, totals.grouping)
    savepoint = write.begin_nested()
    try:
        applied = _apply_one(
            write, message, snapshot, decision, index, decide, tallies, eraser, replays
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


def _apply_one(
    write: Connection,
    message: Message,
    snapshot: ParticipantRecord | None,
    decision: Decision,
    index: int,
    decide: Decide | None,
    tallies: BatchTallies,
    on_erase: _Eraser,
    replays: Replays | None = None,
) -> Applied:
    if decide is not None:  # decided outside this transaction: is the snapshot current?
        current = Reader(write).person(message.pseudonym)
        if current != snapshot:
            # Changed since it was read: decide again from the row as it is now.
            decision = decide(index, current, Reader(write))
            snapshot = current
    if decision.claim and not _claim(write, message):
        kept = None
        if replays is not None:  # answered the same way as the first time
            since = message.now - replays.window
            kept = kept_replies.find(write, message.channel, message.message_id, since)
        return Applied(decision, duplicate=True, kept_replies=kept)
    if not decision.claim:
        person_id = snapshot.id if snapshot else None
    elif snapshot is None and not decision.create:
        person_id = None  # a stranger who has not agreed yet: no row (only an Erase applies)
    elif snapshot is None:
        person_id = _create_person(write, message, decision)
    else:
        person_id = snapshot.id
        _update_person(write, snapshot, decision.person, message.now)
    new_number = None
    profile_answers = dict(snapshot.answers) if snapshot else {}
    profile_answers.update(decision.person.get("answers") or {})
    for effect in decision.effects:
        if isinstance(effect, Erase):
            on_erase(person_id, effect)
            continue
        if person_id is None:  # a stranger's decision carries nothing but an Erase
            raise TypeError(f"{type(effect).__name__} for no participant")
        if isinstance(effect, AddContribution):
            new_number = _add_contribution(write, person_id, effect, tallies)
        elif isinstance(effect, CastVote):
            _cast_vote(write, person_id, effect, tallies)
        elif isinstance(effect, SaveContact):
            _save_contact(write, message, person_id, effect)
        elif isinstance(effect, DropContact):
            write.execute(delete(CONTACTS).where(CONTACTS.c.participant_id == person_id))
        elif isinstance(effect, CancelOutbox):
            write.execute(
                delete(OUTBOX).where(
                    OUTBOX.c.participant_id == person_id,
                    OUTBOX.c.status.in_(("queued", "sending")),
                )
            )
        else:  # pragma: no cover - a new effect type without an applier
            raise TypeError(f"no applier for {type(effect).__name__}")
    kept = None
    if decision.claim and replays is not None:
        kept = replays.encode(decision, new_number)  # written with the batch's others
    return Applied(decision, new_number=new_number, to_keep=kept)


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


class _Eraser:
    """FORGET through the repositories (rare, so the ORM is fine here), on a Session
    that joins the open transaction and savepoint."""

    def __init__(self, write: Connection, backend: str, grouping: Grouping, hook: OnErase):
        self.write, self.backend, self.grouping, self.hook = write, backend, grouping, hook

    def __call__(self, person_id: int | None, effect: Erase) -> None:
        from storage.unit import Unit

        with Session(bind=self.write) as session:
            unit = Unit(SyncSession(session), self.backend, self.grouping)  # type: ignore[arg-type]
            run_now(self.hook(unit, person_id, effect))
            run_now(unit.tallies.flush())
            session.commit()  # releases the Session's own savepoint; the batch commits


def _claim(write: Connection, message: Message) -> bool:
    params = {"channel": message.channel, "message_id": message.message_id, "now": message.now}
    return write.execute(_claim_statement(write.dialect.name), params).rowcount == 1


def _create_person(write: Connection, message: Message, decision: Decision) -> int:
    values: dict[str, Any] = {
        "pseudonym": message.pseudonym,
        "channel": message.channel,
        "language": decision.create_language,
        "answers": {},
        "state": {},
        "opted_out": False,
        "unreachable": False,
        "created_at": message.now,
        "last_seen_at": message.now,
    }
    values.update(_columns(decision.person))
    return write.execute(INSERT_PERSON, values).scalar_one()


def _columns(changes: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - _MUTABLE
    if unknown:
        raise ValueError(f"cannot update participant fields: {sorted(unknown)}")
    values = dict(changes)
    if "answers" in values:
        answers = values["answers"] or {}
        values["role"] = answers.get("role")
        values["region"] = answers.get("region")
        values["age_band"] = answers.get("age_band")
    return values


def _update_person(
    write: Connection, snapshot: ParticipantRecord, changes: Mapping[str, Any], now: datetime
) -> None:
    changed = {k: v for k, v in changes.items() if getattr(snapshot, k) != v}
    values = _columns(changed)
    if values or now - snapshot.last_seen_at >= SEEN_EVERY:
        values["last_seen_at"] = now
        params = {f"v_{name}": value for name, value in values.items()}
        write.execute(_person_update(frozenset(values)), {"k_id": snapshot.id, **params})


def _add_contribution(
    write: Connection, person_id: int, effect: AddContribution, tallies: BatchTallies
) -> int:
    new = replace(effect.new, participant_id=person_id)
    idea_number = _next_idea_number(write, new.created_at) if new.kind == "idea" else None
    row: dict[str, Any] = dict(
        kind=new.kind,
        idea_number=idea_number,
        worker_code=new.worker_code,
        question_id=new.question_id,
        parent_id=new.parent_id,
        participant_id=person_id,
        text=new.text,
        language=new.language,
        polarity=new.polarity,
        subjectivity=new.subjectivity,
        label=new.label,
        redactions=list(new.redactions),
        status=new.status,
        moderation_reason=new.moderation_reason,
        channel=new.channel,
        assisted=new.assisted,
        channel_message_id=new.channel_message_id,
        role=new.profile.role,
        region=new.profile.region,
        age_band=new.profile.age_band,
        agree_count=0,
        disagree_count=0,
        skip_count=0,
        vote_count=0,
        score=0.0,
        created_at=new.created_at,
    )
    new_id = write.execute(INSERT_CONTRIBUTION, row).scalar_one()
    facts = ContributionFacts(
        participant_id=person_id,
        day=day_of(new.created_at),
        question_id=new.question_id,
        kind=new.kind,
        channel=new.channel,
        label=new.label,
        language=new.language,
        status=new.status,
        role=new.profile.role,
        region=new.profile.region,
        age_band=new.profile.age_band,
    )
    run_now(tallies.contribution_changed(None, facts))
    # What a reply calls it: an idea by its own number, anything else by its id.
    return idea_number if idea_number is not None else int(new_id)


def _next_idea_number(write: Connection, now: datetime) -> int:
    """The next idea number, from the counter kept as a checkpoint; its row lock makes
    concurrent writers take turns (the unique index would refuse a number given twice)."""
    value = write.execute(
        select(CHECKPOINTS.c.value).where(CHECKPOINTS.c.name == NEXT_IDEA_NUMBER).with_for_update()
    ).scalar_one_or_none()
    if value is None:  # a store whose counter was removed: carry on after the highest
        highest = write.execute(select(func.max(CONTRIBUTIONS.c.idea_number))).scalar()
        number = (highest or 0) + 1
        write.execute(
            insert(CHECKPOINTS).values(name=NEXT_IDEA_NUMBER, value=str(number + 1), updated_at=now)
        )
        return number
    number = int(value)
    write.execute(
        update(CHECKPOINTS)
        .where(CHECKPOINTS.c.name == NEXT_IDEA_NUMBER)
        .values(value=str(number + 1), updated_at=now)
    )
    return number


def _vote_facts(
    person_id: int,
    vote: CastVote,
    question_id: int | None,
    value: int,
    created_at: datetime,
    channel: str,
    profile: Profile,
) -> VoteFacts:
    return VoteFacts(
        participant_id=person_id,
        contribution_id=vote.idea_id,
        question_id=question_id,
        day=day_of(created_at),
        hour=hour_of(created_at),
        value=value,
        channel=channel,
        role=profile.role,
        region=profile.region,
        age_band=profile.age_band,
    )


def _cast_vote(write: Connection, person_id: int, vote: CastVote, tallies: BatchTallies) -> None:
    """Cast or change a vote (see storage/votes.py Votes.cast, which this mirrors)."""
    if vote.value not in IDEA_COUNT_COLUMN:
        raise ValueError(f"a vote is 1, -1 or 0, not {vote.value!r}")
    query = VOTE_OF_LOCKED if write.dialect.name == "postgresql" else VOTE_OF
    existing = write.execute(query, {"person": person_id, "idea": vote.idea_id}).first()
    question_id = write.scalar(IDEA_QUESTION, {"idea": vote.idea_id})
    profile = vote.profile
    snapshot = {"role": profile.role, "region": profile.region, "age_band": profile.age_band}
    if existing is None:
        write.execute(
            INSERT_VOTE,
            dict(
                participant_id=person_id,
                contribution_id=vote.idea_id,
                value=vote.value,
                channel=vote.channel,
                created_at=vote.now,
                updated_at=vote.now,
                **snapshot,
            ),
        )
        after = _vote_facts(
            person_id, vote, question_id, vote.value, vote.now, vote.channel, profile
        )
        tallies.defer_vote(vote.idea_id, {vote.value: 1}, None, after)
        return
    before = VoteFacts(
        participant_id=person_id,
        contribution_id=vote.idea_id,
        question_id=question_id,
        day=day_of(existing.created_at),
        hour=hour_of(existing.created_at),
        value=existing.value,
        channel=existing.channel,
        role=existing.role,
        region=existing.region,
        age_band=existing.age_band,
    )
    write.execute(
        UPDATE_VOTE,
        {"k_id": existing.id, "v_value": vote.value, "v_channel": vote.channel,
         "v_updated_at": vote.now, **{f"v_{k}": v for k, v in snapshot.items()}},
    )  # fmt: skip
    after = replace(
        before,
        value=vote.value,
        channel=vote.channel,
        role=profile.role,
        region=profile.region,
        age_band=profile.age_band,
    )
    if after != before:
        previous = existing.value
        change = {previous: -1, vote.value: 1} if previous != vote.value else {}
        tallies.defer_vote(vote.idea_id, change, before, after)


def _save_contact(write: Connection, message: Message, person_id: int, effect: SaveContact) -> None:
    statement = _insert(write.dialect.name)(CONTACTS).values(
        participant_id=person_id,
        channel=effect.channel,
        address_encrypted=effect.address_encrypted,
        created_at=effect.now,
    )
    statement = statement.on_conflict_do_update(
        index_elements=["participant_id"],
        set_={"channel": effect.channel, "address_encrypted": effect.address_encrypted},
    )
    write.execute(statement)
