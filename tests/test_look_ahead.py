"""Looking ahead at a batch's reads (handlers/look_ahead.py, storage/grouped_reads.py):
the grouped reads answer as the single ones do, a batch of votes on PostgreSQL reads in a
few statements instead of three a vote, and the decisions come out the same as without
the look ahead, random draws included."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest
from sqlalchemy import select

import storage.grouped_reads
from handlers.engine import Engine
from handlers.look_ahead import BatchDecisions
from storage import grouped_reads
from storage.batch_reads import Reader
from storage.database import Store
from storage.models import Vote
from tests.conftest import _empty_postgres, make_engine, make_settings
from tests.people import DISTINCT_IDEAS, Person
from tests.test_batch_writer import batches, statements
from tests.test_limits_and_replays import count, limited_engine


async def authors_and_voters(engine: Engine, voters: int) -> list[Person]:
    """Six ideas by six authors; `voters` people who shared an idea of their own each and
    are at the first vote card (each has cast a different number of votes)."""
    for number, idea in enumerate(DISTINCT_IDEAS):
        author = Person(engine, f"author-{number}")
        await author.join()
        await author.say(idea)
    people = [Person(engine, f"voter-{n}") for n in range(voters)]
    for n, person in enumerate(people):
        await person.join()
        await person.say(f"Idea {n}: hydrotherapy for {n} towns with {n * 3} pools")
        await person.say("VOTE")
        for _ in range(n % 4):  # 0 to 3 votes cast already
            await person.say("1")
    return people


async def test_grouped_reads_answer_as_the_single_reads(engine: Engine, store: Store) -> None:
    people = await authors_and_voters(engine, 6)
    ids = [await participant_id(store, p) for p in people]
    now = engine.clock()

    def compare(read, _write) -> None:
        reader = Reader(read)
        asked_ideas = {1, 2, 3, 7, 10_000}
        assert grouped_reads.ideas(read, asked_ideas) == {
            idea: reader.contribution(idea) for idea in asked_ideas
        }
        since = [(p, now - timedelta(minutes=m)) for p in ids for m in (0, 1, 60)]
        assert grouped_reads.votes_since(read, since) == {
            (p, s): reader.votes_since(p, s) for p, s in since
        }
        asked: list = [(ids[0], (), (), 5)]  # no open question
        for p in ids:
            first = [idea.id for idea in reader.voting_candidates(p, (1,), (), 5)]
            assert first  # so that leaving some out changes the answer
            for exclude in ((), tuple(first[:1]), tuple(first[:2])):
                asked += [(p, (1,), exclude, pool) for pool in (1, 5)]
        grouped = grouped_reads.voting_candidates(read, asked)
        assert set(grouped) == set(asked)
        for person, questions, exclude, pool in asked:
            single = reader.voting_candidates(person, questions, exclude, pool)
            assert grouped[(person, questions, exclude, pool)] == single

    await store.run_batch(compare)


async def test_candidates_beyond_the_pool_read_are_left_to_the_single_read(
    engine: Engine, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    [voter] = await authors_and_voters(engine, 1)
    person = await participant_id(store, voter)
    monkeypatch.setattr(storage.grouped_reads, "POOL_DEPTH", 3)

    def grouped(read, _write):
        return grouped_reads.voting_candidates(read, [(person, (1,), (), 5), (person, (1,), (), 1)])

    answers = await store.run_batch(grouped)
    # Three ideas read, not enough for five: that key cannot be told from them.
    assert (person, (1,), (), 5) not in answers
    assert len(answers[(person, (1,), (), 1)]) == 1


async def participant_id(store: Store, person: Person) -> int:
    async with store.reader() as unit:
        found = await unit.participants.find(person.pseudonym)
    assert found is not None
    return found.id


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_batch_of_votes_reads_in_a_few_statements_on_postgresql(
    engine: Engine, store: Store
) -> None:
    people = await authors_and_voters(engine, 12)
    sizes = batches(engine)
    # What the batch reads before its write transaction takes the advisory locks.
    seen = statements(store, lambda statement: True)
    await asyncio.gather(*(p.say("2") for p in people))
    assert sizes == [12]
    reads = seen[: next(i for i, s in enumerate(seen) if "pg_advisory_xact_lock" in s)]
    # The people; the ideas voted on; their votes of the last minute; the least-voted
    # ideas and the voters' votes among them. Without the look ahead: 37.
    assert len(reads) == 5, reads
    assert all(p.keys[-1] in ("vote_card", "vote_done") for p in people)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_the_look_ahead_decides_as_without_it(
    engine: Engine, store: Store, settings, enricher, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same crowd from an empty store, the random source seeded alike, with the look
    ahead and without it: every reply of every batch is the same (which ideas each
    person is shown next: a draw among the least voted). One of them sends two votes
    at once: the second is decided again inside the transaction, from their row as the
    first left it, and must not use what was looked ahead for the first."""

    async def crowd_votes(engine: Engine) -> list[list[str]]:
        people = await authors_and_voters(engine, 10)
        answers = []
        for choice in ("1", "2", "1", "2"):
            senders = [*people, people[0]]
            replies = await asyncio.gather(*(p.say(choice) for p in senders))
            answers.append(["\n".join(r.text for r in reply) for reply in replies])
        return answers

    with_look_ahead = await crowd_votes(engine)
    await _empty_postgres(store)
    monkeypatch.setattr(BatchDecisions, "look_ahead", lambda self, people, reader: None)
    again = make_engine(store, settings, enricher, clock)
    await again.prepare()
    assert await crowd_votes(again) == with_look_ahead


def test_a_watched_random_source_notes_a_draw() -> None:
    from handlers.look_ahead import _Watched

    source = _Watched()
    assert not source.drawn
    random.Random.choice(source, [1, 2, 3])
    assert source.drawn


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_second_message_of_one_person_in_a_batch_reads_afresh(
    store: Store, database_url: str, enricher, clock
) -> None:
    """Two votes sent at once, one below the limit of two a minute: the second is decided
    again inside the transaction, after the first, and its count of recent votes must
    include the first (what was looked ahead for it counted one)."""
    engine = limited_engine(store, database_url, enricher, clock, votes_per_minute=2)
    await engine.prepare()
    for number, idea in enumerate(DISTINCT_IDEAS[:4]):
        author = Person(engine, f"author-{number}")
        await author.join()
        await author.say(idea)
    voter = Person(engine, "voter")
    await voter.join()
    await voter.say("VOTE")
    await voter.say("1")  # one vote this minute
    sizes = batches(engine)
    replies = await asyncio.gather(voter.say("1"), voter.say("1"))
    assert sizes == [2]
    assert [reply[0].key for reply in replies] == ["vote_card", "limit_votes"]
    assert await count(store, Vote) == 2


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_workers_looking_ahead_apply_each_vote_once(
    engine: Engine, store: Store, database_url: str
) -> None:
    """Each vote delivered to two PostgreSQL workers at once (a provider's retry racing
    the original): both look ahead from the same committed rows, one applies it, the
    other answers a duplicate; every vote counts once and nobody is shown an idea they
    have voted on."""
    people = await authors_and_voters(engine, 8)
    second = Store.connect(database_url)
    worker_b = make_engine(second, make_settings(database_url), engine.enricher, engine.clock)
    await worker_b.prepare()
    try:
        before = await count(store, Vote)
        for step in range(3):
            sends = []
            for n, person in enumerate(people):
                message_id = f"race-{n}-{step}"
                sends += [person.send("1", message_id=message_id)]
                twin = Person(worker_b, person.sender)
                sends += [twin.send("1", message_id=message_id)]
            outcomes = await asyncio.gather(*sends)
            assert sum(outcome.duplicate for outcome in outcomes) == len(people)
        assert await count(store, Vote) == before + 3 * len(people)
        async with store.reader() as unit:
            for person in people:
                found = await unit.participants.find(person.pseudonym)
                assert found is not None
                on_screen = found.state.get("idea")
                voted = await unit.session.scalars(
                    select(Vote.contribution_id).where(Vote.participant_id == found.id)
                )
                assert on_screen is None or on_screen not in set(voted)
    finally:
        await second.close()
