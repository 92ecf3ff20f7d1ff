"""FORGET, checked against every table of the store, on SQLite and PostgreSQL: after it no
row names the person, links to them or holds their words — not the processed message
ids, the audit log, kept failed messages, the outbox, nor the tallies and snapshots —
while everyone else's data stays as it was."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from handlers.dead_letters import keep_failed, list_failed
from handlers.engine import Engine
from handlers.enrich import Enricher
from handlers.types import Inbound
from storage.database import Store
from storage.models import (
    ActivityCount,
    AuditEntry,
    Base,
    Contribution,
    FailedInbound,
    IdeaRoleTally,
    OutboxMessage,
    Participant,
    Participation,
    Vote,
    VoteHour,
)
from tests.conftest import FakeClock, make_engine, make_settings
from tests.people import Person

ADMIN = "424242"
# Words only amira ever wrote, so any copy of them left anywhere is found.
IDEA = "Zebrafish hydrotherapy pools for every carer"
COMMENT = "Quokka beds need staff too"
AMENDED = "Zebrafish hydrotherapy pools for carers"
FAILED_TEXT = "idea Narwhal clinics call 07700 900123"


@pytest.fixture
async def engine(store: Store, database_url: str, enricher: Enricher, clock: FakeClock) -> Engine:
    settings = make_settings(database_url, team=[{"telegram_id": int(ADMIN), "role": "admin"}])
    built = make_engine(store, settings, enricher, clock)
    await built.prepare()
    return built


async def _dump(store: Store) -> dict[str, list[str]]:
    async with store.reader() as unit:
        return {
            table.name: [
                json.dumps([str(value) for value in row], ensure_ascii=False)
                for row in (await unit.session.execute(table.select())).all()
            ]
            for table in Base.metadata.sorted_tables
        }


async def _count(store: Store, model, *where) -> int:
    async with store.reader() as unit:
        return await unit.session.scalar(select(func.count()).select_from(model).where(*where))


async def _id_of(store: Store, text: str) -> int:
    async with store.reader() as unit:
        return await unit.session.scalar(select(Contribution.id).where(Contribution.text == text))


async def test_forget_leaves_nothing_of_the_person_in_any_table(
    engine: Engine, store: Store
) -> None:
    # On a chat channel: only there is news offered, and a contact kept for it.
    amira = Person(engine, "amira-7700", channel="telegram")
    bob = Person(engine, "bob-8800", channel="telegram")
    admin = Person(engine, ADMIN, channel="telegram")
    await amira.join(answers=("4", "2", "4"))  # carer, London, 35 to 44: only she says so
    await bob.join()
    await bob.say("idea More community rehab beds at weekends")
    await bob.say("yes")  # bob wants news: merge news to him is queued in the outbox
    await amira.say(f"idea {IDEA}")
    await amira.say("yes")  # news for amira too: an encrypted contact
    bob_idea = await _id_of(store, "More community rehab beds at weekends")
    her_idea = await _id_of(store, IDEA)
    await amira.say("vote")
    await amira.say("1")  # agree with bob's idea
    await amira.say(f"comment #{bob_idea} {COMMENT}")
    await bob.say("vote")
    await bob.say("1")  # bob agrees with amira's idea

    # The team amends her idea (the audit keeps the original words), then merges bob's
    # idea into hers, so bob's news quotes her words.
    await admin.say(f"/amend {her_idea} {AMENDED}")
    assert admin.keys == ["team:amended"]
    await admin.say(f"/merge {bob_idea} {her_idea}")
    assert admin.keys == ["team:merge_done"]
    async with store.reader() as unit:
        news = list(await unit.session.scalars(select(OutboxMessage.text)))
    assert any(AMENDED in text for text in news), news

    # A message of hers and one of bob's failed and were kept.
    for sender, text in (("amira-7700", FAILED_TEXT), ("bob-8800", "idea Walk-in clinics")):
        inbound = Inbound("telegram", sender, f"failed-{sender}", engine.clock(), text)
        await keep_failed(engine, inbound, RuntimeError("enrichment crashed"))

    row = await _participant(store, amira.pseudonym)
    person_id, pseudonym = row.id, row.pseudonym
    assert await _count(store, Participation, Participation.participant_id == person_id) > 0
    assert await _count(store, ActivityCount, ActivityCount.value == "carer") > 0
    audit_before = await _count(store, AuditEntry)

    await amira.say("forget")
    assert amira.keys == ["forget_ask"]
    await amira.say("yes")
    assert amira.keys == ["forgotten"]

    for table, rows in (await _dump(store)).items():
        for values in rows:
            for trace in (pseudonym, "amira", "Zebrafish", "Quokka", "Narwhal"):
                assert trace not in values, f"{table} still holds {trace!r}: {values}"
    async with store.reader() as unit:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if column.name == "participant_id":
                    linked = await unit.session.scalar(
                        select(func.count()).select_from(table).where(column == person_id)
                    )
                    assert linked == 0, f"{table.name} still links to the person"

    # The snapshots count her no more: no carer, Londoner or 35-44 anywhere (a day's
    # counter may stay at zero).
    for value in ("carer", "london", "35-44"):
        left = await _count(
            store, ActivityCount, ActivityCount.value == value, ActivityCount.count > 0
        )
        assert left == 0, value
    carer_votes = IdeaRoleTally.agree + IdeaRoleTally.disagree + IdeaRoleTally.skip
    assert await _count(store, IdeaRoleTally, IdeaRoleTally.role == "carer", carer_votes > 0) == 0
    async with store.reader() as unit:
        hours = await unit.session.scalar(select(func.coalesce(func.sum(VoteHour.count), 0)))
    assert hours == await _count(store, Vote)

    # Everyone else's data stays: bob, his idea (no longer merged into a gone idea), his
    # kept message, and the audit entries (without her words).
    assert await _participant(store, bob.pseudonym) is not None
    async with store.reader() as unit:
        kept_idea = await unit.contributions.get(bob_idea)
    assert kept_idea is not None and kept_idea.duplicate_of is None
    kept = await list_failed(engine, include_done=True)
    assert [record.message_id for record in kept] == ["failed-bob-8800"]
    assert await _count(store, AuditEntry) == audit_before
    async with store.reader() as unit:
        amend = await unit.session.scalar(select(AuditEntry).where(AuditEntry.action == "amend"))
    assert amend.detail["texts_erased"] is True and "original" not in amend.detail


async def test_forget_before_consent_and_after_opting_out_drop_kept_messages_too(
    engine: Engine, store: Store
) -> None:
    early = Person(engine, "early-bird")
    await early.say("start")
    await keep_failed(
        engine,
        Inbound("console", "early-bird", "kept-early", engine.clock(), "yes"),
        RuntimeError("crashed"),
    )
    await early.say("forget")  # before consenting: erased at once
    assert early.keys == ["forgotten"]
    assert await _count(store, FailedInbound) == 0
    assert await _participant(store, early.pseudonym) is None

    phone = Person(engine, "+447700900999", channel="sms")
    await phone.join()
    await phone.say("idea Texts about Zebrafish pools")
    await phone.say("STOP")
    await keep_failed(
        engine,
        Inbound("sms", "+447700900999", "SMkept", engine.clock(), "Zebrafish again"),
        RuntimeError("crashed"),
    )
    outcome = await phone.send("FORGET")  # opted out: erased without a reply
    assert outcome.opted_out and outcome.replies == ()
    assert await _participant(store, phone.pseudonym) is None
    assert await _count(store, FailedInbound) == 0
    assert await _count(store, Contribution) == 0


async def test_consent_no_keeps_only_the_refusal(engine: Engine, store: Store) -> None:
    before = await _dump(store)
    carol = Person(engine, "carol-6600")
    carol_hint = Inbound(
        "console",
        "carol-6600",
        "c-1",
        engine.clock(),
        "/idea Keep nothing of this Zebrafish idea",
        language_hint="cy",
    )
    await engine.handle(carol_hint)
    await carol.say("no")
    assert carol.keys == ["refused"]
    await carol.say("My number is 07700 900123 and I live at SW1A 1AA")
    assert carol.keys == ["refused_before"]
    after = await _dump(store)
    changed = {
        table: sorted(set(after[table]) - set(before[table]))
        for table in after
        if set(after[table]) != set(before[table])
    }
    # Only her refusal, and the ids of her three messages (which name nobody). On
    # PostgreSQL a per-minute message counter too (the limit across workers): keyed by a
    # hash of pseudonym and minute, it names nobody and is dropped after a minute.
    counters = changed.pop("message_counts", [])
    assert all(carol.pseudonym not in " ".join(map(str, row)) for row in counters)
    assert set(changed) == {"participants", "processed_messages"}
    assert len(changed["participants"]) == 1 and len(changed["processed_messages"]) == 3
    row = await _participant(store, carol.pseudonym)
    assert row.refused_at is not None and row.consent_at is None
    assert (row.answers, row.language, row.followups, row.role) == ({}, None, None, None)
    assert row.state == {"step": "refused"}
    for values in after["processed_messages"]:
        assert "carol" not in values


async def _participant(store: Store, pseudonym: str) -> Participant | None:
    async with store.reader() as unit:
        return await unit.session.scalar(
            select(Participant).where(Participant.pseudonym == pseudonym)
        )
