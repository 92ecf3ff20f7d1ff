"""The X hashtag listener against a local fake of the X API v2, over real HTTP, on SQLite
and PostgreSQL: polling with pagination and since_id, the filtered stream with keep-alives
and drops, rules, rate limits, refusals, restarts, reach, and one listener per store.

Time runs a thousand times faster for the listener (its waits are recorded, then slept
for a thousandth of their length), so backoffs and rate-limit waits take milliseconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from sqlalchemy import select, text

from bot.channels.twitter import TwitterChannel
from bot.channels.x_listener import CHECKPOINT, Timings, XListener
from bot.channels.x_posts import TWEET_FIELDS
from bot.services import Services, open_services
from handlers.public import Checkpoint, public_post_from_json
from storage.database import Store
from storage.errors import StoreUnavailable
from storage.models import Contribution
from tests.conftest import _empty_postgres, make_settings
from tests.fakes.x_api import (
    CLOSE,
    DROP,
    HOLD,
    KEEPALIVE,
    NOT_ENROLLED,
    Failure,
    FakeX,
    rate_limited,
)

TOKEN = "chorus-test-x-token-not-a-secret"
BASE_ID = 1_800_000_000_000_000_000
TAG = "#AHPsIntoAction"


def pid(number: int) -> str:
    return str(BASE_ID + number)


class FastSleep:
    """Records each wait the listener asks for and sleeps a thousandth of it."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(seconds / 1000)


@pytest.fixture
async def fake_x() -> AsyncIterator[FakeX]:
    fake = FakeX(TOKEN)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@asynccontextmanager
async def chorus(database_url: str, fake: FakeX, **twitter: object) -> AsyncIterator[Services]:
    """Chorus's services with the X token set and channels.twitter pointing at the fake."""
    settings = make_settings(
        database_url,
        channels={"twitter": {"api_base": fake.url, "mode": "poll", **twitter}},
    )
    settings = replace(settings, env=replace(settings.env, x_bearer_token=TOKEN))
    services = await open_services(settings)
    try:
        yield services
    finally:
        await services.close()


@asynccontextmanager
async def listening(
    services: Services,
    http: aiohttp.ClientSession,
    sleep: FastSleep | None = None,
    **timings: float,
) -> AsyncIterator[XListener]:
    channel = TwitterChannel(
        services, http, TOKEN, timings=Timings(**timings), sleep=sleep or FastSleep()
    )
    await channel.start()
    try:
        yield channel.listener
    finally:
        await channel.stop()


async def until(listener: XListener, predicate: Callable[[XListener], bool]) -> None:
    async with asyncio.timeout(15):
        await listener.wait_until(predicate)


def stored(count: int) -> Callable[[XListener], bool]:
    return lambda listener: listener.counts["ideas"] + listener.counts["comments"] >= count


async def x_posts(services: Services) -> list[Contribution]:
    async with services.store.reader() as unit:
        rows = await unit.session.scalars(
            select(Contribution).where(Contribution.channel == "x").order_by(Contribution.id)
        )
        return list(rows)


async def checkpoint(services: Services) -> str | None:
    async with services.store.reader() as unit:
        return await unit.checkpoints.get(CHECKPOINT)


def asks_for_the_fields(query: dict[str, str]) -> bool:
    fields = set(query["tweet.fields"].split(","))
    expansions = set(query["expansions"].split(","))
    return set(TWEET_FIELDS) <= fields and {"author_id", "referenced_tweets.id"} <= expansions


# --- polling ------------------------------------------------------------------------


async def test_polling_follows_pages_then_asks_only_for_newer_posts(
    database_url: str, fake_x: FakeX, http: aiohttp.ClientSession
) -> None:
    for number in range(1, 129):
        fake_x.post(pid(number), f"Idea number {number} for allied health {TAG}", f"{number}")
    fake_x.post(pid(129), f"RT @p1: Idea number 1 for allied health {TAG}", "77", retweeted=pid(1))
    fake_x.post(pid(130), f"@p2 yes please {TAG}", "78", replied_to=pid(2))
    # The classic shape: no referenced_tweets, only the "RT @user:" text.
    fake_x.post(pid(131), f"RT @p3: Idea number 3 for allied health {TAG}", "76")
    async with chorus(database_url, fake_x) as services, listening(services, http) as listener:
        await until(listener, lambda x: stored(129)(x) and x.counts["endorsements"] == 2)
        fake_x.post(pid(132), f"A later idea {TAG}", "79")
        await until(listener, stored(130))
        posts = await x_posts(services)
        assert await checkpoint(services) == pid(132)
    searches = fake_x.queries("search")
    assert [q.get("next_token") for q in searches[:2]] == [None, "page-100"]
    assert "since_id" not in searches[0] and "since_id" not in searches[1]
    assert searches[2]["since_id"] == pid(131)  # the next poll: only what is newer
    assert all(asks_for_the_fields(q) and q["query"] == TAG for q in searches)
    assert all("end_time" in q for q in searches)  # recent search is read 30 s behind
    assert len(posts) == 130 and len({p.channel_message_id for p in posts}) == 130
    assert sum(p.kind == "comment" for p in posts) == 1
    by_id = {p.channel_message_id: p for p in posts}
    # The retweets are endorsements, not ideas of their own, in both shapes.
    assert by_id[pid(1)].agree_count == 1 and by_id[pid(3)].agree_count == 1
    assert pid(129) not in by_id and pid(131) not in by_id
    assert services.metrics.messages[("x", "ok")] == 132  # /metrics counts X posts too


async def test_a_payload_with_only_ids_and_texts_is_stored(
    database_url: str, fake_x: FakeX, http: aiohttp.ClientSession
) -> None:
    fake_x.minimal = True
    fake_x.post(pid(1), f"Fewer forms, more physio time {TAG}", "501")
    fake_x.post(pid(2), f"RT @a: Fewer forms, more physio time {TAG}", "502")
    async with chorus(database_url, fake_x) as services, listening(services, http) as listener:
        await until(listener, lambda x: x.counts["ignored"] >= 1)
        [idea] = await x_posts(services)
    assert idea.text == f"Fewer forms, more physio time {TAG}"
    # Not an idea; and not a vote either: who reposted is unknown, so one vote per person
    # cannot be kept.
    assert listener.counts["ignored"] == 1 and idea.agree_count == 0


# --- the stream ---------------------------------------------------------------------


async def test_every_post_is_stored_once_across_a_drop_and_a_restart(
    database_url: str, fake_x: FakeX, http: aiohttp.ClientSession, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_x.rules = [
        {"id": "1", "value": "#OldHashtag", "tag": "chorus"},  # stale: Chorus's, old config
        {"id": "2", "value": "cats", "tag": "someone-else"},
        {"id": "3", "value": "dogs"},
    ]
    a = fake_x.post(pid(1), f"Podiatry in care homes {TAG}", "11")
    b = fake_x.post(pid(2), f"Speech therapy waiting lists are too long {TAG}", "12")
    c = fake_x.post(pid(3), f"Made while the stream was down {TAG}", "13", searchable=False)
    d = fake_x.post(
        pid(4), f"RT @p1: Podiatry in care homes {TAG}", "14", retweeted=pid(1), searchable=False
    )
    e = fake_x.post(pid(5), f"@p2 and dietitians {TAG}", "15", replied_to=pid(2), searchable=False)
    f = fake_x.post(pid(6), f"Made while Chorus was off {TAG}", "16", searchable=False)
    fake_x.streams = [
        [a, KEEPALIVE, KEEPALIVE, b, KEEPALIVE, lambda: fake_x.searchable.add(c["id"]), DROP],
        [lambda: fake_x.searchable.update({d["id"], e["id"]}), d, KEEPALIVE, b, e, CLOSE],
    ]
    sleep = FastSleep()
    async with chorus(database_url, fake_x, mode="stream") as services:
        async with listening(services, http, sleep) as listener:
            await until(listener, lambda x: stored(4)(x) and x.counts["connections"] >= 3)
            assert listener.status()["mode"] == "stream"
            assert await checkpoint(services) == pid(5)
        fake_x.searchable.add(f["id"])
        async with listening(services, http, sleep) as listener:
            await until(listener, stored(1))
        posts = await x_posts(services)
        assert await checkpoint(services) == pid(6)
    assert [p.channel_message_id for p in posts] == [pid(1), pid(2), pid(3), pid(5), pid(6)]
    assert [p.kind for p in posts] == ["idea", "idea", "idea", "comment", "idea"]
    assert posts[0].agree_count == 1 and posts[3].parent_id == posts[1].id
    # The rules: the stale one of Chorus's went, others' stayed, Chorus's was added once.
    assert sorted((r["value"], r.get("tag")) for r in fake_x.rules) == [
        (TAG, "chorus"),
        ("cats", "someone-else"),
        ("dogs", None),
    ]
    # Backfills: all at first, from the checkpoint after the drop, after the restart.
    searches = fake_x.queries("search")
    assert "since_id" not in searches[0]
    assert all("since_id" in q for q in searches[1:])
    assert searches[-1]["since_id"] == pid(5)
    assert all(asks_for_the_fields(q) for q in fake_x.queries("stream"))
    # Reconnects came after a jittered wait, growing exponentially from 1 s.
    assert any(0.5 <= wait <= 1.0 for wait in sleep.waits)
    assert TOKEN not in caplog.text


async def test_stream_posts_never_move_the_checkpoint_past_a_failed_backfill(
    database_url: str, fake_x: FakeX, http: aiohttp.ClientSession
) -> None:
    fake_x.post(pid(3), f"Made before the listener started {TAG}", "23")
    fake_x.post(pid(4), f"Also made before {TAG}", "24")
    streamed = fake_x.post(pid(5), f"Made just now {TAG}", "25", searchable=False)
    fake_x.streams = [[streamed, HOLD]]
    fake_x.search_gate = asyncio.Event()
    fake_x.fail("search", Failure(503, {"title": "Service Unavailable"}))
    async with chorus(database_url, fake_x, mode="stream") as services:
        async with listening(services, http) as listener:
            await until(listener, stored(1))  # from the stream, while the backfill waits
            fake_x.search_gate.set()  # ... and then fails
            await until(listener, stored(3))
        assert await checkpoint(services) == pid(4)
    first, second = fake_x.queries("search")[:2]
    assert "since_id" not in first and "since_id" not in second


async def test_stream_posts_of_other_rules_are_left_alone(
    database_url: str, fake_x: FakeX, http: aiohttp.ClientSession
) -> None:
    fake_x.rules = [{"id": "2", "value": "cats", "tag": "someone-else"}]
    cats = fake_x.post(pid(1), "cats are great", "21", searchable=False)
    ours = fake_x.post(pid(2), f"OTs in every A&E {TAG}", "22", searchable=False)
    fake_x.streams = [[cats, ours, HOLD]]
    async with (
        chorus(database_url, fake_x, mode="stream") as services,
        listening(services, http) as listener,
    ):
        await until(listener, stored(1))
        [idea] = await x_posts(services)
    assert idea.text == f"OTs in every A&E {TAG}"  # and &amp; is unescaped


@pytest.mark.parametrize("refusing", ["rules", "stream"])
async def test_auto_mode_polls_when_the_access_level_lacks_the_stream(
    database_url: str, fake_x: FakeX, http: aiohttp.ClientSession, caplog, refusing: str
) -> None:
    fake_x.fail(refusing, Failure(403, NOT_ENROLLED))
    fake_x.post(pid(1), f"Radiographers in community hubs {TAG}", "31")
    async with (
        chorus(database_url, fake_x, mode="auto") as services,
        listening(services, http) as listener,
    ):
        await until(listener, stored(1))
        assert listener.status()["mode"] == "poll"
    fallback = [r for r in caplog.records if "polling recent search" in r.getMessage()]
    assert len(fallback) == 1 and "client-not-enrolled" in fallback[0].getMessage()


async def test_stream_mode_stops_when_the_access_level_lacks_the_stream(
    database_url: str, fake_x: FakeX, http: aiohttp.ClientSession, caplog
) -> None:
    fake_x.fail("stream", Failure(403, NOT_ENROLLED))
    async with (
        chorus(database_url, fake_x, mode="stream") as services,
        listening(services, http) as listener,
    ):
        await until(listener, lambda x: x.state == "stopped")
    assert "set channels.twitter.mode to poll or auto" in listener.status()["reason"]
    assert fake_x.queries("search") == []


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
    # x-rate-limit-reset is 40 s away: the listener waited about that long, once.
    assert [w for w in sleep.waits if 35 <= w <= 42] and listener.counts["rate_limited"] == 1
    assert len([r for r in caplog.records if "429" in r.getMessage()]) == 1


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
