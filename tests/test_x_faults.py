"""The X listener's limits and faults, against the local fake X API over real HTTP, on
SQLite and PostgreSQL: 429s waited out until x-rate-limit-reset, reconnects with
exponential backoff and jitter, COMMITs the database refuses (the checkpoint never
moves), odd posts and recurring bugs (logged once), an expired checkpoint; the reach of
posts refreshed while young; and one listener per PostgreSQL store.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from sqlalchemy import text

from handlers.public import Checkpoint, public_post_from_json
from storage.database import Store
from storage.errors import StoreUnavailable
from tests.conftest import _empty_postgres
from tests.fakes.x_api import DROP, HOLD, Failure, FakeX, rate_limited
from tests.test_public_posts import CommitBreaker
from tests.x_harness import (
    CHECKPOINT,
    TAG,
    FastSleep,
    checkpoint,
    chorus,
    listening,
    pid,
    stored,
    until,
    x_posts,
)

# --- limits and faults --------------------------------------------------------------


@pytest.mark.parametrize("endpoint,mode", [("search", "poll"), ("stream", "stream")])
async def test_a_429_is_waited_out_until_the_reset(
    database_url: str,
    fake_x: FakeX,
    http: aiohttp.ClientSession,
    caplog,
    endpoint: str,
    mode: str,
) -> None:
    limited_at = time.time()
    fake_x.fail(endpoint, rate_limited(40))
    fake_x.post(pid(1), f"More music therapists {TAG}", "41", searchable=endpoint == "search")
    if endpoint == "stream":
        fake_x.streams = [[fake_x.posts[pid(1)], HOLD]]
    sleep = FastSleep()
    async with (
        chorus(database_url, fake_x, mode=mode) as services,
        listening(services, http, sleep) as listener,
    ):
        await until(listener, stored(1))
        # The reset was set 40 s ahead before Chorus started, which takes a while on a
        # busy machine: the listener waits what is left of the 40 s, once.
        late = time.time() - limited_at
    assert [w for w in sleep.waits if 35 - late <= w <= 42] and listener.counts["rate_limited"] == 1
    assert len([r for r in caplog.records if "429" in r.getMessage()]) == 1


async def test_reconnects_back_off_exponentially_with_jitter(
    database_url: str, fake_x: FakeX, http: aiohttp.ClientSession, caplog
) -> None:
    fake_x.fail("stream", Failure(503, {"title": "Service Unavailable"}), times=2)
    streamed = fake_x.post(pid(1), f"Arrived at last {TAG}", "42", searchable=False)
    # Then two connections that X drops at once: they do not start the backoff afresh.
    fake_x.streams = [[DROP], [DROP], [streamed, HOLD]]
    sleep = FastSleep()
    async with (
        chorus(database_url, fake_x, mode="stream") as services,
        listening(services, http, sleep) as listener,
    ):
        await until(listener, stored(1))
    reconnects = [wait for wait in sleep.waits if wait < 10]  # the others are 15 s and more
    assert len(reconnects) == 4 and listener.counts["reconnects"] == 4
    for wait, ceiling in zip(reconnects, [1, 2, 4, 8], strict=True):
        assert ceiling / 2 <= wait <= ceiling
    # The same refusal twice in a row is one warning; the second goes to DEBUG.
    assert len([r for r in caplog.records if "503" in r.getMessage()]) == 1


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_failed_commit_never_moves_the_checkpoint(
    database_url: str, fake_x: FakeX, http: aiohttp.ClientSession, mode: str
) -> None:
    for number in (1, 2, 3):
        fake_x.post(pid(number), f"Idea {number} {TAG}", f"5{number}")
    async with chorus(database_url, fake_x, mode=mode) as services:
        async with CommitBreaker(services.store) as breaker, listening(services, http) as listener:
            # Two rounds whose COMMIT failed, then the database works again.
            await until(listener, lambda x: x.counts["faults"] >= 2)
            assert await checkpoint(services) is None
            assert listener.counts["searches"] == 0  # no round ever completed
            failed = len(fake_x.queries("search"))
            await breaker.disarm()
            await until(listener, lambda x: x.counts["searches"] >= 1)
            assert await checkpoint(services) == pid(3)
        posts = await x_posts(services)
    searches = fake_x.queries("search")
    assert failed >= 2 and all("since_id" not in q for q in searches[: failed + 1])
    assert [p.channel_message_id for p in posts] == [pid(1), pid(2), pid(3)]


async def test_a_recurring_bug_is_logged_once_and_listening_goes_on(
    database_url: str, fake_x: FakeX, http: aiohttp.ClientSession, caplog
) -> None:
    fake_x.post(pid(1), f"Idea {TAG}", "57")
    async with chorus(database_url, fake_x) as services:
        # Each round trips twice: on the batch, then on the checkpoint alone.
        services.engine = CheckpointBug(services.engine, times=6)
        async with listening(services, http) as listener:
            await until(listener, lambda x: x.counts["searches"] >= 1)
        assert await checkpoint(services) == pid(1)
    bug = [r for r in caplog.records if "checkpoint bug" in r.getMessage()]
    assert [r.levelno for r in bug] == [logging.ERROR] and bug[0].exc_info
    assert listener.counts["faults"] == 3


class CheckpointBug:
    """The engine, except that moving the checkpoint raises (a bug) the first `times`."""

    def __init__(self, engine, times: int) -> None:
        self._engine = engine
        self.left = times

    def __getattr__(self, name: str):
        return getattr(self._engine, name)

    async def ingest_public(self, posts, *, checkpoint=None):
        if checkpoint is not None and self.left:
            self.left -= 1
            raise RuntimeError("a checkpoint bug")
        return await self._engine.ingest_public(posts, checkpoint=checkpoint)


async def test_the_checkpoint_moves_only_after_a_commit(
    database_url: str, fake_x: FakeX, http: aiohttp.ClientSession
) -> None:
    for number in (1, 2, 3):
        fake_x.post(pid(number), f"Idea {number} {TAG}", f"5{number}")
    async with chorus(database_url, fake_x) as services:
        services.engine = StoreDownOnce(services.engine)
        async with listening(services, http) as listener:
            await until(listener, stored(3))
        posts = await x_posts(services)
        assert await checkpoint(services) == pid(3)
    searches = fake_x.queries("search")
    # The failed batch left no checkpoint behind: the retry searched from the start again.
    assert "since_id" not in searches[0] and "since_id" not in searches[1]
    assert len(posts) == 3 and listener.counts["faults"] >= 1


async def test_one_odd_post_is_kept_as_failed_and_never_stops_the_listener(
    database_url: str, fake_x: FakeX, http: aiohttp.ClientSession
) -> None:
    for number in (1, 2, 3):
        fake_x.post(pid(number), f"Idea {number} {TAG}", f"8{number}")
    async with chorus(database_url, fake_x) as services:
        services.engine = ChokesOn(services.engine, pid(2))
        async with listening(services, http) as listener:
            await until(listener, lambda x: stored(2)(x) and x.counts["failed"] == 1)
            fake_x.post(pid(4), f"Idea 4 {TAG}", "84")
            await until(listener, stored(3))
        posts = await x_posts(services)
        async with services.store.reader() as unit:
            [kept] = await unit.failed.list()
        assert await checkpoint(services) == pid(4)
    assert [p.channel_message_id for p in posts] == [pid(1), pid(3), pid(4)]
    assert (kept.channel, kept.message_id) == ("x", pid(2)) and "chokes" in kept.error
    assert public_post_from_json(kept.raw).text == f"Idea 2 {TAG}"


class ChokesOn:
    """The engine, except that it cannot store one particular post (a bug, say)."""

    def __init__(self, engine, post_id: str) -> None:
        self._engine = engine
        self.post_id = post_id

    def __getattr__(self, name: str):
        return getattr(self._engine, name)

    async def ingest_public(self, posts, *, checkpoint=None):
        if any(post.post_id == self.post_id for post in posts):
            raise RuntimeError(f"the engine chokes on {self.post_id}")
        return await self._engine.ingest_public(posts, checkpoint=checkpoint)


async def test_a_checkpoint_older_than_the_search_window_falls_back_to_7_days(
    database_url: str, fake_x: FakeX, http: aiohttp.ClientSession
) -> None:
    fake_x.post(pid(1), f"Idea {TAG}", "91")
    invalid = {
        "errors": [
            {
                "parameters": {"since_id": ["1"]},
                "message": "Invalid 'since_id':'1'. 'since_id' must be a tweet id created "
                "after 2026-11-24T09:00Z.",
            }
        ],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }
    fake_x.fail("search", Failure(400, invalid))
    async with chorus(database_url, fake_x) as services:
        await services.engine.ingest_public([], checkpoint=Checkpoint(CHECKPOINT, "1"))
        async with listening(services, http) as listener:
            await until(listener, stored(1))
        assert await checkpoint(services) == pid(1)
    first, second = fake_x.queries("search")[:2]
    assert first["since_id"] == "1" and "since_id" not in second


class StoreDownOnce:
    """The engine, except that the first batch of posts finds the store unavailable."""

    def __init__(self, engine) -> None:
        self._engine = engine
        self.failed = False

    def __getattr__(self, name: str):
        return getattr(self._engine, name)

    async def ingest_public(self, posts, *, checkpoint=None):
        if posts and not self.failed:
            self.failed = True
            raise StoreUnavailable("the test took the store away")
        return await self._engine.ingest_public(posts, checkpoint=checkpoint)


# --- reach --------------------------------------------------------------------------


async def test_public_metrics_are_stored_and_refreshed_while_posts_are_young(
    database_url: str, fake_x: FakeX, http: aiohttp.ClientSession
) -> None:
    young = fake_x.post(pid(1), f"Young post {TAG}", "61", metrics={"like_count": 3})
    old = fake_x.post(pid(2), f"Old post {TAG}", "62", metrics={"like_count": 5})
    old["created_at"] = (datetime.now(UTC) - timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    fake_x.post(pid(3), f"Deleted later {TAG}", "63")
    async with (
        chorus(database_url, fake_x, metrics_max_age_hours=72) as services,
        listening(services, http, metrics_every=10**6) as listener,
    ):
        await until(listener, stored(3))
        young["public_metrics"].update(like_count=10, retweet_count=4, reply_count=2, quote_count=1)
        old["public_metrics"].update(like_count=50)
        del fake_x.posts[pid(3)]
        assert await listener.refresh_metrics() == 1
        async with services.store.reader() as unit:
            ids = {p.channel_message_id: p.id for p in await x_posts(services)}
            young_reach = await unit.public_posts.metrics_of(ids[pid(1)])
            old_reach = await unit.public_posts.metrics_of(ids[pid(2)])
            reach = await unit.public_posts.reach("x")
    assert young_reach == {"likes": 10, "reposts": 4, "replies": 2, "quotes": 1}
    assert old_reach["likes"] == 5  # older than 72 hours: no longer refreshed
    assert fake_x.queries("lookup")[-1]["ids"] == f"{pid(1)},{pid(3)}"
    assert reach == {"posts": 3, "likes": 15, "reposts": 4, "replies": 2, "quotes": 1}


# --- one listener per deployment ----------------------------------------------------


async def test_one_listener_per_postgres_store_and_another_takes_over(
    postgres_url: str, fake_x: FakeX, http: aiohttp.ClientSession
) -> None:
    await emptied(postgres_url)
    fake_x.post(pid(1), f"Idea {TAG}", "71")
    async with chorus(postgres_url, fake_x) as first, chorus(postgres_url, fake_x) as second:
        # The first holder will not come back soon once it has lost the lease.
        async with listening(first, http, lease_retry=3000) as one:
            await until(one, lambda x: x.state == "listening")
            async with listening(second, http) as two:
                await until(two, lambda x: x.state == "standby")
                await until(one, stored(1))
                assert two.counts["searches"] == 0
                # The holder dies: its connection goes, and the lock with it.
                async with first.store.engine.begin() as connection:
                    await connection.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE "
                            "locktype = 'advisory' AND granted AND database = "
                            "(SELECT oid FROM pg_database WHERE datname = current_database())"
                        )
                    )
                await until(one, lambda x: x.state == "standby")
                await until(two, lambda x: x.state == "listening")
                fake_x.post(pid(2), f"Another idea {TAG}", "72")
                await until(two, stored(1))
        assert len(await x_posts(first)) == 2


async def emptied(url: str) -> None:
    store = Store.connect(url)
    try:
        await _empty_postgres(store)
    finally:
        await store.close()
