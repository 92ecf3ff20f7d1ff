"""Limits per person (`limits:`) and resent messages answered the same way.

The decisions are pure functions (handlers/limits.py, handlers/replay.py) tested alone;
then through the engine on both backends: past a limit one polite reply and nothing
stored, the same idea twice stored once, a replayed message id answered with the first
replies until the window ends; and over real HTTP, a resent SMS gets its TwiML again."""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from handlers.engine import Engine
from handlers.limits import Activity, MessageRate, over_limit
from handlers.privacy import ContactCipher, Pseudonymizer
from handlers.replay import decode, encode
from handlers.settings import LimitsConfig
from handlers.types import Choice, Inbound, Reply
from storage.models import Contribution, Vote
from tests.conftest import TEST_SECRET, FakeClock, make_settings
from tests.people import Person
from tests.twilio_fakes import Phone, running_chorus, twilio_settings

CIPHER = ContactCipher(TEST_SECRET)


def test_over_a_limit_names_the_polite_reply() -> None:
    limits = LimitsConfig(ideas_per_hour=2, comments_per_hour=3, votes_per_minute=4)
    assert over_limit("idea", Activity(ideas_last_hour=1), limits) is None
    assert over_limit("idea", Activity(ideas_last_hour=2), limits) == "limit_ideas"
    assert over_limit("comment", Activity(comments_last_hour=3), limits) == "limit_comments"
    assert over_limit("vote", Activity(votes_last_minute=3), limits) is None
    assert over_limit("vote", Activity(votes_last_minute=4), limits) == "limit_votes"


def test_a_flood_of_messages_gets_one_answer_then_silence_until_the_minute_passes() -> None:
    now = [0.0]
    rate = MessageRate(3, clock=lambda: now[0])
    assert [rate.check("amira") for _ in range(6)] == ["ok", "ok", "ok", "tell", "quiet", "quiet"]
    assert rate.check("bob") == "ok"  # per person
    now[0] = 61.0
    assert rate.check("amira") == "ok"


TEXTS = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
REPLIES = st.lists(
    st.builds(
        Reply,
        TEXTS,
        choices=st.lists(st.builds(Choice, TEXTS, TEXTS, st.none() | TEXTS), max_size=3).map(tuple),
        replaces_previous=st.booleans(),
        key=TEXTS,
        quote=TEXTS,
    ),
    max_size=4,
)


@given(REPLIES)
def test_kept_replies_read_back_exactly_and_only_with_the_key(replies: list[Reply]) -> None:
    kept = encode(replies, CIPHER)
    assert decode(kept, CIPHER) == tuple(replies)
    for reply in replies:
        assert not reply.text or reply.text not in kept or len(reply.text) < 4  # encrypted


def limited_engine(store, database_url: str, enricher, clock: FakeClock, **limits) -> Engine:
    settings = make_settings(database_url, limits=limits)
    return Engine(
        store,
        settings.consultation,
        enricher=enricher,
        pseudonyms=Pseudonymizer(TEST_SECRET),
        contacts=ContactCipher(TEST_SECRET),
        clock=clock,
        rng=random.Random(7),
    )


async def count(store, model, *where) -> int:
    async with store.reader() as unit:
        return await unit.session.scalar(select(func.count()).select_from(model).where(*where))


async def test_past_a_limit_one_polite_reply_and_nothing_stored(
    store, database_url: str, enricher, clock: FakeClock
) -> None:
    engine = limited_engine(store, database_url, enricher, clock, ideas_per_hour=2)
    await engine.prepare()
    amira = Person(engine, "amira")
    await amira.join()
    await amira.say("idea more physios in A&E")
    await amira.say("no")  # no news, thanks
    await amira.say("idea shorter waits for OT")
    await amira.say("idea a third idea in the same hour")
    assert amira.keys == ["limit_ideas"]
    assert await count(store, Contribution) == 2
    clock.advance(hours=1, minutes=1)
    await amira.say("idea a third idea in the same hour")
    assert amira.keys[0] in ("idea_saved", "idea_pending")
    assert await count(store, Contribution) == 3


async def test_an_idea_asks_for_its_limit_reads_in_one_round(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hour's count of their ideas, the look-up of the same idea and the ideas like
    it are asked for together, so an idea is decided twice (nothing loaded, then all of
    it), not four times; each round runs the whole flow again."""
    import handlers.conversation

    amira = Person(engine, "amira-rounds")
    await amira.join()
    real, asked = handlers.conversation.decide, []

    def counting(*args, **kwargs):
        asked.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(handlers.conversation, "decide", counting)
    await amira.say("idea Hydrotherapy for everyone after a stroke")
    assert amira.keys[0] in ("idea_saved", "idea_pending")
    assert len(asked) == 2


async def test_the_same_idea_twice_is_stored_once(
    store, database_url: str, enricher, clock: FakeClock
) -> None:
    engine = limited_engine(store, database_url, enricher, clock)
    await engine.prepare()
    amira, bob = Person(engine, "amira"), Person(engine, "bob")
    await amira.join()
    await amira.say("idea More physios in A&E, call me on 07700 900123")
    await amira.say("no")
    await amira.say("idea More physios in A&E, call me on 07700 900456")  # same once redacted
    assert amira.keys == ["idea_again"] and "idea 1" in amira.text
    await bob.join()
    await bob.say("idea More physios in A&E, call me on 07700 900123")  # another person
    if "alike:new" in bob.choices:  # "Is your idea like one of these?": theirs is new
        await bob.press("alike:new")
    assert await count(store, Contribution) == 2


async def test_votes_past_the_limit_are_refused_politely(
    store, database_url: str, enricher, clock: FakeClock
) -> None:
    engine = limited_engine(store, database_url, enricher, clock, votes_per_minute=2)
    await engine.prepare()
    authors = [Person(engine, f"author{n}") for n in range(4)]
    for n, author in enumerate(authors):
        await author.join()
        await author.say(f"idea number {n}: {'more ' * (n + 1)}physios")
        if "alike:new" in author.choices:  # like another's idea: theirs is new all the same
            await author.press("alike:new")
    voter = Person(engine, "voter")
    await voter.join()
    await voter.say("vote")
    for _ in range(2):
        await voter.press(next(p for p in voter.choices if p.endswith("agree")))
    await voter.press(next(p for p in voter.choices if p.endswith("agree")))
    assert voter.keys == ["limit_votes"]
    assert await count(store, Vote) == 2


async def test_a_flood_of_messages_is_answered_once_and_not_stored(
    store, database_url: str, enricher, clock: FakeClock
) -> None:
    engine = limited_engine(store, database_url, enricher, clock, messages_per_minute=6)
    await engine.prepare()
    amira = Person(engine, "amira")
    await amira.join()  # five messages
    await amira.say("help")
    answers = [await amira.say("help") for _ in range(3)]
    assert [[r.key for r in a] for a in answers] == [["limit_messages"], [], []]


async def test_a_replayed_message_gets_the_same_replies_within_the_window(
    store, database_url: str, enricher, clock: FakeClock
) -> None:
    engine = limited_engine(store, database_url, enricher, clock, replay_hours=24)
    await engine.prepare()
    amira = Person(engine, "amira")
    await amira.join()
    first = await amira.send("idea more physios", message_id="SM-1")
    again = await amira.send("idea more physios", message_id="SM-1")
    assert again.duplicate and again.replies == first.replies and first.replies
    clock.advance(hours=25)
    await amira.send("no", message_id="SM-2")  # a later message drops the old replies
    late = await amira.send("idea more physios", message_id="SM-1")
    assert late.duplicate and late.replies == ()
    assert await count(store, Contribution) == 1


async def test_a_resent_sms_gets_the_same_twiml(database_url: str) -> None:
    import aiohttp

    settings = twilio_settings(database_url)
    async with running_chorus(settings) as runtime, aiohttp.ClientSession() as http:
        phone = Phone(http, runtime.port, "+447700900777")
        await phone.send("start")
        first = await phone.send("yes", sid="SM" + "7" * 32)
        again = await phone.send("yes", sid="SM" + "7" * 32)
    assert first.status == again.status == 200
    assert again.messages == first.messages and first.messages


async def test_nothing_is_kept_before_consent_nor_after_forget(
    store, database_url: str, enricher, clock: FakeClock
) -> None:
    from storage.models import Participant, ProcessedMessage

    engine = limited_engine(store, database_url, enricher, clock)
    await engine.prepare()
    amira = Person(engine, "amira")
    for text in ("start", "hello there", "help", "mydata", "/idea keep nothing of this"):
        assert await amira.say(text)  # every message is answered...
    assert await count(store, Participant) == 0  # ...and no participant row is kept
    assert await count(store, ProcessedMessage) == 5  # only the ids, which name nobody
    await amira.join()
    assert await count(store, Participant) == 1
    await amira.say("forget")
    await amira.press(next(p for p in amira.choices if p.endswith("yes")))
    assert amira.keys == ["forgotten"] and await count(store, Participant) == 0
    await amira.say("mydata")
    assert amira.keys == ["mydata_none"]
    await amira.say("help")
    assert await count(store, Participant) == 0


async def test_no_row_before_consent_over_sms(database_url: str) -> None:
    import aiohttp

    from storage.models import Participant

    settings = twilio_settings(database_url)
    async with running_chorus(settings) as runtime, aiohttp.ClientSession() as http:
        phone = Phone(http, runtime.port, "+447700900778")
        for text in ("hello", "start", "mydata"):
            answer = await phone.send(text)
            assert answer.status == 200 and answer.messages
        assert await count(runtime.services.store, Participant) == 0
        await phone.send("yes")
        assert await count(runtime.services.store, Participant) == 1
        await phone.send("FORGET")
        answer = await phone.send("yes")
        assert any("We have deleted your data" in m for m in answer.messages)
        for text in ("MYDATA", "HELP"):  # answered, and nothing is created
            answer = await phone.send(text)
            assert answer.status == 200 and answer.messages
        assert await count(runtime.services.store, Participant) == 0


async def test_messages_per_minute_hold_across_two_postgresql_workers(
    postgres_url: str, enricher, clock: FakeClock
) -> None:
    # Two workers with their own pools on one database, as two processes would be; one
    # person's messages alternate between them, so each worker's memory sees only half.
    from storage.models import ProcessedMessage

    async with two_workers(postgres_url, enricher, clock, messages_per_minute=4) as (
        stores,
        workers,
    ):

        def inbound(number: int, sender: str = "+447700900999") -> Inbound:
            return hello(clock, number, sender)

        outcomes = [await workers[n % 2].handle(inbound(n)) for n in range(8)]
        keys = [[reply.key for reply in outcome.replies] for outcome in outcomes]
        assert all(k and "limit_messages" not in k for k in keys[:4]), keys
        assert keys[4] == ["limit_messages"] and keys[5:] == [[], [], []], keys
        # Nothing of a refused message is stored, not even its id.
        flood = ProcessedMessage.message_id.like("SM-flood-+447700900999-%")
        assert await count(stores[0], ProcessedMessage, flood) == 4
        # Per person: someone else, in the same minute, is answered as usual.
        other = await workers[0].handle(inbound(0, sender="+447700900998"))
        assert other.replies and other.replies[0].key != "limit_messages"


@contextlib.asynccontextmanager
async def two_workers(postgres_url: str, enricher, clock: FakeClock, **limits):
    """Two engines with their own pools on one PostgreSQL database, as two processes
    would be: (stores, engines)."""
    from storage.database import Store

    stores = [Store.connect(postgres_url) for _ in range(2)]
    workers = [limited_engine(s, postgres_url, enricher, clock, **limits) for s in stores]
    try:
        for worker in workers:
            await worker.prepare()
        yield stores, workers
    finally:
        for worker, store in zip(workers, stores, strict=True):
            await worker.close()
            await store.close()


def hello(clock: FakeClock, number: int, sender: str = "+447700900999") -> Inbound:
    return Inbound(
        channel="sms",
        sender=sender,
        message_id=f"SM-flood-{sender}-{number}",
        received_at=clock(),
        text="hello",
        medium="sms",
    )


SLIDER = "+447700900977"  # nobody else's: the database is shared with the test above


async def test_the_shared_message_count_is_a_sliding_minute(postgres_url: str, enricher) -> None:
    """Four messages late in one minute, then more early in the next: the minute before
    still counts for the part of it inside the last 60 seconds, so the limit is not had
    twice over across the boundary (a fixed minute would answer four more at once)."""
    clock = FakeClock(datetime(2026, 12, 1, 9, 0, 50, tzinfo=UTC))
    async with two_workers(postgres_url, enricher, clock, messages_per_minute=4) as (_, workers):
        sent = iter(range(100))

        async def keys() -> list[str]:
            number = next(sent)
            outcome = await workers[number % 2].handle(hello(clock, number, SLIDER))
            return [reply.key for reply in outcome.replies]

        first = [await keys() for _ in range(4)]
        assert all(k and "limit_messages" not in k for k in first), first
        clock.advance(seconds=20)  # 09:01:10: 4 x 50/60 of the minute before still count
        assert "limit_messages" not in await keys()  # 1 + 3
        assert await keys() == ["limit_messages"]  # 2 + 3
        assert await keys() == []
        clock.advance(seconds=40)  # 09:01:50: 4 x 10/60 of it, none whole
        assert "limit_messages" not in await keys()  # 4 + 0
        assert await keys() == ["limit_messages"]  # 5 + 0
