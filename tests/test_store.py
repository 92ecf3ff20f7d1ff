"""The store on SQLite and PostgreSQL: schema, votes and tallies, message ids, erasure."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from storage.database import Store
from storage.errors import StoreUnavailable
from storage.models import Base, IdeaRoleTally
from storage.records import NewContribution, Profile
from storage.scoring import wilson_lower_bound

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


async def _idea(store: Store, author: int, text_: str = "An idea", message: str = "m1") -> int:
    async with store.transaction() as unit:
        idea = await unit.contributions.add(
            NewContribution(
                kind="idea",
                participant_id=author,
                text=text_,
                channel="console",
                channel_message_id=message,
                label="neutral",
                created_at=NOW,
            )
        )
        return idea.id


async def _person(store: Store, name: str) -> int:
    async with store.transaction() as unit:
        return (await unit.participants.create(name, "console", NOW)).id


async def test_migrations_match_the_models(store: Store) -> None:
    async with store.engine.connect() as connection:
        diff = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )
    assert diff == []


async def test_health_reports_backend_and_revision(store: Store) -> None:
    state = await store.health()
    assert state["ok"] is True
    assert state["backend"] in ("sqlite", "postgresql")
    assert state["revision"] == state["expected_revision"]


async def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path) -> None:
    store = Store.connect(f"sqlite+aiosqlite:///{tmp_path / 'pragmas.db'}")
    try:
        async with store.engine.connect() as connection:
            assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await store.close()


async def test_times_come_back_timezone_aware(store: Store) -> None:
    author = await _person(store, "p1")
    async with store.reader() as unit:
        person = await unit.participants.get(author)
    assert person.created_at == NOW
    assert person.created_at.tzinfo is not None


async def test_a_second_vote_changes_the_first_and_tallies_follow(store: Store) -> None:
    author, voter = await _person(store, "author"), await _person(store, "voter")
    idea = await _idea(store, author)
    async with store.transaction() as unit:
        first = await unit.votes.cast(voter, idea, 1, channel="console", profile=Profile(), now=NOW)
    async with store.transaction() as unit:
        second = await unit.votes.cast(
            voter, idea, -1, channel="sms", profile=Profile(role="carer"), now=NOW
        )
    async with store.transaction() as unit:
        third = await unit.votes.cast(voter, idea, -1, channel="sms", profile=Profile(), now=NOW)
    assert (first.status, second.status, third.status) == ("new", "changed", "unchanged")
    async with store.reader() as unit:
        record = await unit.contributions.get(idea)
        votes = await unit.votes.for_idea(idea)
    assert (record.agree_count, record.disagree_count, record.skip_count) == (0, 1, 0)
    assert len(votes) == 1 and votes[0].value == -1 and votes[0].channel == "sms"
    assert record.score == pytest.approx(wilson_lower_bound(0, 1))


async def test_tallies_and_score_track_many_voters(store: Store) -> None:
    author = await _person(store, "author")
    idea = await _idea(store, author)
    values = [1, 1, 1, -1, 0, 1]
    for number, value in enumerate(values):
        voter = await _person(store, f"v{number}")
        async with store.transaction() as unit:
            await unit.votes.cast(voter, idea, value, channel="console", profile=Profile(), now=NOW)
    async with store.reader() as unit:
        record = await unit.contributions.get(idea)
    assert (record.agree_count, record.disagree_count, record.skip_count) == (4, 1, 1)
    assert record.score == pytest.approx(wilson_lower_bound(4, 1))


async def test_a_message_id_is_claimed_once_per_channel(store: Store) -> None:
    async with store.transaction() as unit:
        assert await unit.processed.claim("sms", "SM1", NOW) is True
        assert await unit.processed.claim("sms", "SM1", NOW) is False
        assert await unit.processed.claim("telegram", "SM1", NOW) is True


async def test_concurrent_claims_of_one_message_let_exactly_one_through(store: Store) -> None:
    async def claim() -> bool:
        async with store.transaction() as unit:
            claimed = await unit.processed.claim("sms", "SM-race", NOW)
            await asyncio.sleep(0.05)  # hold the transaction open while the other tries
            return claimed

    results = await asyncio.gather(*(claim() for _ in range(4)))
    assert sorted(results) == [False, False, False, True]


async def test_a_failed_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.transaction() as unit:
            await unit.participants.create("half", "console", NOW)
            await unit.processed.claim("console", "half-1", NOW)
            raise RuntimeError("flow crashed")
    async with store.reader() as unit:
        assert await unit.participants.find("half", lock=False) is None
        assert await unit.processed.seen("console", "half-1") is False


async def test_erasure_withdraws_votes_and_detaches_others_comments(store: Store) -> None:
    leaver, other = await _person(store, "leaver"), await _person(store, "other")
    their_idea = await _idea(store, leaver, "Leaver's idea", "m-l")
    other_idea = await _idea(store, other, "Other's idea", "m-o")
    async with store.transaction() as unit:
        await unit.votes.cast(leaver, other_idea, 1, channel="console", profile=Profile(), now=NOW)
        await unit.votes.cast(other, their_idea, 1, channel="console", profile=Profile(), now=NOW)
        comment = await unit.contributions.add(
            NewContribution(
                kind="comment",
                participant_id=other,
                text="I agree",
                channel="console",
                channel_message_id="m-c",
                label="neutral",
                created_at=NOW,
                parent_id=their_idea,
            )
        )
        await unit.participants.save_contact(leaver, "sms", b"encrypted", NOW)
        await unit.outbox.enqueue(leaver, "sms", "news", NOW)
    async with store.transaction() as unit:
        counts = await unit.participants.erase(leaver)
    assert (counts.participants, counts.contributions, counts.votes) == (1, 1, 1)
    assert (counts.contacts, counts.outbox) == (1, 1)
    async with store.reader() as unit:
        assert await unit.participants.get(leaver) is None
        assert await unit.contributions.get(their_idea) is None
        kept = await unit.contributions.get(comment.id)
        remaining = await unit.contributions.get(other_idea)
    assert kept is not None and kept.parent_id is None
    assert (remaining.agree_count, remaining.score) == (0, 0.0)


async def test_erasure_leaves_no_zero_tally_saying_someone_of_a_role_voted(
    store: Store,
) -> None:
    leaver, author, other = [await _person(store, name) for name in ("l", "a", "o")]
    idea = await _idea(store, author)
    async with store.transaction() as unit:
        carer, patient = Profile(role="carer"), Profile(role="patient")
        await unit.votes.cast(leaver, idea, 1, channel="sms", profile=carer, now=NOW)
        await unit.votes.cast(other, idea, -1, channel="sms", profile=patient, now=NOW)
    async with store.transaction() as unit:
        await unit.participants.erase(leaver)
    async with store.reader() as unit:
        rows = (await unit.session.execute(select(IdeaRoleTally.__table__))).all()
    assert [(row.role, row.agree, row.disagree) for row in rows] == [("patient", 0, 1)]


async def test_store_reports_unavailable_when_postgres_is_unreachable() -> None:
    store = Store.connect("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    try:
        with pytest.raises(StoreUnavailable):
            async with store.transaction() as unit:
                await unit.participants.count()
        state = await store.health()
        assert state["ok"] is False and "error" in state
    finally:
        await store.close()


async def test_store_reports_unavailable_when_sqlite_is_locked(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'locked.db'}"
    store = Store.connect(url, busy_seconds=0.2)
    await store.upgrade()
    blocker = Store.connect(url, busy_seconds=0.2)
    try:
        async with blocker.transaction() as holding:
            await holding.participants.count()  # BEGIN IMMEDIATE: now it holds the lock
            with pytest.raises(StoreUnavailable):
                async with store.transaction() as unit:
                    await unit.participants.create("x", "console", NOW)
    finally:
        await blocker.close()
        await store.close()
