"""Applying one decided message inside the batch's transaction: its claim on the message
id (storage/batch_claims.py), the person's row (created, or updated only when something
changed), and each effect (a contribution, a vote, a contact kept or dropped, queued news
cancelled, an erasure), with Core statements built once; tallies are gathered for the
batch (`BatchTallies`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from storage import replies as kept_replies
from storage.batch_claims import claim, unclaim
from storage.batch_reads import Reader
from storage.batch_types import UNREAD, Applied, Decide, Message, OnErase, Replays, Unread
from storage.bookkeeping import _insert
from storage.contributions import NEXT_IDEA_NUMBER, new_row_values
from storage.driver_sql import DriverStatement
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
from storage.person_updates import HeldUpdates
from storage.records import ParticipantRecord, Profile
from storage.sync_bridge import SyncSession, run_now
from storage.tables import (
    CHECKPOINTS,
    CONTACTS,
    CONTRIBUTIONS,
    OUTBOX,
    PARTICIPANTS,
    VOTES,
)
from storage.tallies import IDEA_COUNT_COLUMN, Tallies
from storage.tally_keys import ContributionFacts, PersonKey, VoteFacts, day_of, hour_of

# last_seen_at is only moved when the row is written anyway, or when it is this old.
SEEN_EVERY = timedelta(hours=1)
_MUTABLE = frozenset(
    {"language", "consent_at", "refused_at", "answers", "state", "opted_out", "followups",
     "unreachable", "last_seen_at"}
)  # fmt: skip


VOTE_OF = select(VOTES).where(
    VOTES.c.participant_id == bindparam("person"), VOTES.c.contribution_id == bindparam("idea")
)
VOTE_OF_LOCKED = VOTE_OF.with_for_update()
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
DROP_CONTACT = delete(CONTACTS).where(CONTACTS.c.participant_id == bindparam("person"))
CANCEL_OUTBOX = delete(OUTBOX).where(
    OUTBOX.c.participant_id == bindparam("person"), OUTBOX.c.status.in_(("queued", "sending"))
)
# Those run for most messages go straight to the driver's cursor (storage/driver_sql.py).
NEXT_NUMBER = DriverStatement(
    select(CHECKPOINTS.c.value).where(CHECKPOINTS.c.name == NEXT_IDEA_NUMBER).with_for_update()
)
MOVE_NEXT_NUMBER = DriverStatement(
    update(CHECKPOINTS)
    .where(CHECKPOINTS.c.name == NEXT_IDEA_NUMBER)
    .values(value=bindparam("value"), updated_at=bindparam("now"))
)
INSERT_PERSON = DriverStatement(insert(PARTICIPANTS).returning(PARTICIPANTS.c.id))
INSERT_CONTRIBUTION = DriverStatement(insert(CONTRIBUTIONS).returning(CONTRIBUTIONS.c.id))
# Statements that depend on the dialect (its upsert) or on the columns written, each
# built once for each (functools.cache, as the tallies' upserts are).


@cache
def _vote_insert(dialect: str) -> Any:
    """A new vote (its columns bound from the row given), or nothing if the person voted
    on this idea before."""
    return _insert(dialect)(VOTES).on_conflict_do_nothing(
        index_elements=["participant_id", "contribution_id"]
    )


VOTE_INSERT = DriverStatement(_vote_insert)


@cache
def _contact_upsert(dialect: str) -> Any:
    statement = _insert(dialect)(CONTACTS).values(
        participant_id=bindparam("person"),
        channel=bindparam("channel"),
        address_encrypted=bindparam("address"),
        created_at=bindparam("now"),
    )
    return statement.on_conflict_do_update(
        index_elements=["participant_id"],
        set_={
            "channel": statement.excluded.channel,
            "address_encrypted": statement.excluded.address_encrypted,
        },
    )


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


def apply_one(
    write: Connection,
    message: Message,
    snapshot: ParticipantRecord | None,
    decision: Decision,
    index: int,
    decide: Decide | None,
    tallies: BatchTallies,
    on_erase: Eraser,
    replays: Replays | None = None,
    *,
    updates: HeldUpdates,
    current: ParticipantRecord | None | Unread = UNREAD,
    claimed: bool | None = None,
) -> Applied:
    """`updates`: where the person's UPDATE goes (held for the batch, or written at once).
    `current`: the person's row as this transaction sees it, when the batch has read it
    already (else it is read here, if `decide` says the decision was taken outside).
    `claimed`: the message id was claimed already (`claim_early`): True if it was new,
    False if it was applied before; None: claimed here, if the decision says so."""
    if decide is not None:  # decided outside this transaction: is the snapshot current?
        if isinstance(current, Unread):
            updates.write_held()  # (an earlier message of theirs in the batch may be held)
            current = Reader(write).person(message.pseudonym)
        if current != snapshot:
            # Changed since it was read: decide again from the row as it is now.
            decision = decide(index, current, Reader(write))
            snapshot = current
    if claimed and not decision.claim:  # decided again: it now leaves no trace at all
        unclaim(write, message)
    fresh = decision.claim and (claim(write, message) if claimed is None else claimed)
    if decision.claim and not fresh:
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
        _update_person(updates, snapshot, decision.person, message.now)
    new_number = None

    for effect in decision.effects:
        if isinstance(effect, Erase):
            updates.write_held()  # the erasure reads and deletes rows through the ORM
            on_erase(person_id, effect)
            continue
        if person_id is None:  # a stranger's decision carries nothing but an Erase
            raise TypeError(f"{type(effect).__name__} for no participant")
        if isinstance(effect, AddContribution):
            new_number = _add_contribution(write, person_id, effect, tallies)
        elif isinstance(effect, CastVote):
            _cast_vote(write, person_id, effect, tallies)
        elif isinstance(effect, SaveContact):
            _save_contact(write, person_id, effect)
        elif isinstance(effect, DropContact):
            write.execute(DROP_CONTACT, {"person": person_id})
        elif isinstance(effect, CancelOutbox):
            write.execute(CANCEL_OUTBOX, {"person": person_id})
        else:  # pragma: no cover - a new effect type without an applier
            raise TypeError(f"no applier for {type(effect).__name__}")
    kept = None
    if decision.claim and replays is not None:
        kept = replays.encode(decision, new_number)  # written with the batch's others
    return Applied(decision, new_number=new_number, to_keep=kept)


class Eraser:
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
    return INSERT_PERSON.scalar(write, values)


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
    updates: HeldUpdates, snapshot: ParticipantRecord, changes: Mapping[str, Any], now: datetime
) -> None:
    changed = {k: v for k, v in changes.items() if getattr(snapshot, k) != v}
    values = _columns(changed)
    if values or now - snapshot.last_seen_at >= SEEN_EVERY:
        values["last_seen_at"] = now
        params = {f"v_{name}": value for name, value in values.items()}
        updates.add(frozenset(values), {"k_id": snapshot.id, **params})


def _add_contribution(
    write: Connection, person_id: int, effect: AddContribution, tallies: BatchTallies
) -> int:
    new = replace(effect.new, participant_id=person_id)
    idea_number = _next_idea_number(write, new.created_at) if new.kind == "idea" else None
    row = new_row_values(new, idea_number)
    new_id = INSERT_CONTRIBUTION.scalar(write, row)
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
        confidence=new.sentiment_confidence,
    )
    run_now(tallies.contribution_changed(None, facts))
    # What a reply calls it: an idea by its own number, anything else by its id.
    return idea_number if idea_number is not None else int(new_id)


def _next_idea_number(write: Connection, now: datetime) -> int:
    """The next idea number, from the counter kept as a checkpoint; its row lock makes
    concurrent writers take turns (the unique index would refuse a number given twice)."""
    value = NEXT_NUMBER.scalar(write, {})
    if value is None:  # a store whose counter was removed: carry on after the highest
        highest = write.execute(select(func.max(CONTRIBUTIONS.c.idea_number))).scalar()
        number = (highest or 0) + 1
        write.execute(
            insert(CHECKPOINTS).values(name=NEXT_IDEA_NUMBER, value=str(number + 1), updated_at=now)
        )
        return number
    number = int(value)
    MOVE_NEXT_NUMBER.execute(write, {"value": str(number + 1), "now": now})
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
    question_id = vote.question_id
    profile = vote.profile
    snapshot = {"role": profile.role, "region": profile.region, "age_band": profile.age_band}
    # Most votes are new: the insert tells (nothing inserted: the person voted on this
    # idea before), so the common case costs one statement, not a read and a write.
    new_vote = dict(
        participant_id=person_id,
        contribution_id=vote.idea_id,
        value=vote.value,
        channel=vote.channel,
        created_at=vote.now,
        updated_at=vote.now,
        **snapshot,
    )
    if VOTE_INSERT.execute(write, new_vote).rowcount == 1:
        after = _vote_facts(
            person_id, vote, question_id, vote.value, vote.now, vote.channel, profile
        )
        tallies.defer_vote(vote.idea_id, {vote.value: 1}, None, after)
        return
    query = VOTE_OF_LOCKED if write.dialect.name == "postgresql" else VOTE_OF
    existing = write.execute(query, {"person": person_id, "idea": vote.idea_id}).first()
    if existing is None:  # removed between the two statements (an idea deleted meanwhile)
        raise LookupError(f"the vote on idea {vote.idea_id} changed while it was cast")
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


def _save_contact(write: Connection, person_id: int, effect: SaveContact) -> None:
    params = {"person": person_id, "channel": effect.channel,
              "address": effect.address_encrypted, "now": effect.now}  # fmt: skip
    write.execute(_contact_upsert(write.dialect.name), params)
