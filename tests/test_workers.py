"""Several workers sharing one store: state lives in the store, so any worker can serve
any message, and a message delivered to two workers at once is applied once."""

from __future__ import annotations

import asyncio
import random

from sqlalchemy import func, select

from handlers.engine import Engine
from handlers.enrich import Enricher
from handlers.types import Inbound
from storage.database import Store
from storage.models import Contribution, Participant, ProcessedMessage
from tests.conftest import (
    TEST_SECRET,
    FakeClock,
    _empty_postgres,
    make_engine,
    make_settings,
)
from tests.people import DISTINCT_IDEAS, Person


async def test_two_workers_apply_each_message_once(engine: Engine, database_url: str) -> None:
    # On PostgreSQL the workers are separate connection pools, as separate processes
    # would be. SQLite is the single-process store: there the two workers share it, as
    # concurrent handlers in one process do (SQLite's own lock is not fair between
    # processes, which is why several workers call for PostgreSQL).
    second_store = engine.store if engine.store.backend == "sqlite" else Store.connect(database_url)
    worker_b = Engine(
        second_store,
        engine.config,
        enricher=engine.enricher,
        pseudonyms=engine.pseudonyms,
        contacts=engine.contacts,
        clock=engine.clock,
        rng=random.Random(3),
    )
    await worker_b.prepare()
    workers = (engine, worker_b)
    assert TEST_SECRET  # both workers share the secret, so pseudonyms agree

    def inbound(person: int, number: int, text: str) -> Inbound:
        return Inbound(
            channel="sms",
            sender=f"+4477009{person:05d}",
            message_id=f"SM{person}-{number}",
            received_at=engine.clock(),
            text=text,
            medium="sms",
        )

    people = range(8)
    script = ["start", "yes", "skip", "skip", "skip", "idea {idea}"]
    # Ideas unlike one another, so none is offered as "like" another person's.
    ideas_of = [*DISTINCT_IDEAS, "Hydrotherapy pools at weekends", "Sign language at reception"]
    try:
        for number, text in enumerate(script):
            # Each message is delivered to both workers at the same moment (a provider retry
            # racing the original), and everyone's messages run concurrently.
            batch = [
                worker.handle(inbound(person, number, text.format(idea=ideas_of[person])))
                for person in people
                for worker in workers
            ]
            outcomes = await asyncio.gather(*batch)
            duplicates = sum(outcome.duplicate for outcome in outcomes)
            assert duplicates == len(people), (text, duplicates)
        async with engine.store.reader() as unit:
            ideas = await unit.session.scalar(select(func.count()).select_from(Contribution))
            consented = await unit.session.scalar(
                select(func.count())
                .select_from(Participant)
                .where(Participant.consent_at.is_not(None))
            )
            processed = await unit.session.scalar(
                select(func.count()).select_from(ProcessedMessage)
            )
        assert (ideas, consented, processed) == (8, 8, 8 * len(script))
    finally:
        if second_store is not engine.store:
            await second_store.close()


async def test_a_vote_never_waits_for_its_author_s_own_message(
    postgres_url: str, enricher: Enricher, clock: FakeClock
) -> None:
    """The author's message holds their participant row for its transaction; a vote on
    their idea must not queue behind it. (It did: the vote's second UPDATE of the idea
    re-checked the idea's foreign keys, which needed the author's row, and voters and
    authors deadlocked under load.)"""
    store = Store.connect(postgres_url)
    try:
        await _empty_postgres(store)
        engine = make_engine(store, make_settings(postgres_url), enricher, clock)
        await engine.prepare()
        author = Person(engine, "+447700900001", "sms")
        voter = Person(engine, "+447700900002", "sms")
        for person in (author, voter):
            await person.join()
        await author.say("idea Physios in every GP surgery")
        await voter.say("VOTE")
        async with store.transaction() as unit:  # the author's message, still open
            assert await unit.participants.find(author.pseudonym) is not None
            async with asyncio.timeout(10):
                await voter.say("1")
        async with store.reader() as unit:
            (agree,) = await unit.session.scalars(select(Contribution.agree_count))
        assert agree == 1
    finally:
        await store.close()
