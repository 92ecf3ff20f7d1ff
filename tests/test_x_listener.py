"""The X hashtag listener against a local fake of the X API v2, over real HTTP, on SQLite
and PostgreSQL: polling with pagination and since_id, the filtered stream with keep-alive
blank lines and drops, its rules, what posts mean, every post stored once across drops
and restarts, and the fallback to polling. Faults, reach and the lease are in
test_x_faults.py; the harness is tests/x_harness.py.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from handlers.public import Checkpoint
from tests.fakes.x_api import (
    CLOSE,
    DROP,
    HOLD,
    KEEPALIVE,
    NOT_ENROLLED,
    Failure,
    FakeX,
)
from tests.x_harness import (
    CHECKPOINT,
    TAG,
    TOKEN,
    FastSleep,
    VirtualTime,
    asks_for_the_fields,
    checkpoint,
    chorus,
    listening,
    pid,
    stored,
    until,
    x_posts,
)

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


@pytest.mark.parametrize("mode", ["poll", "stream"])
async def test_a_payload_with_only_ids_and_texts_is_stored(
    database_url: str, fake_x: FakeX, http: aiohttp.ClientSession, mode: str
) -> None:
    fake_x.minimal = True  # no includes, no matching_rules, only id and text
    searchable = mode == "poll"
    idea_post = fake_x.post(
        pid(1), f"Fewer forms, more physio time {TAG}", "501", searchable=searchable
    )
    repost = fake_x.post(
        pid(2), f"RT @a: Fewer forms, more physio time {TAG}", "502", searchable=searchable
    )
    fake_x.streams = [[idea_post, KEEPALIVE, repost, HOLD]]
    async with (
        chorus(database_url, fake_x, mode=mode) as services,
        listening(services, http) as listener,
    ):
        await until(listener, lambda x: x.counts["ignored"] >= 1)
        [idea] = await x_posts(services)
    assert idea.text == f"Fewer forms, more physio time {TAG}"
    assert fake_x.stream_connections == (1 if mode == "stream" else 0)
    # Not an idea; and not a vote either: who reposted is unknown, so one vote per person
    # cannot be kept.
    assert listener.counts["ignored"] == 1 and idea.agree_count == 0


class PollsOnCue(VirtualTime):
    """VirtualTime whose waits between polls end when the test sets `next_poll`, so the
    test looks at the store between two polls however slowly the machine runs. Only
    those waits move the clock: the lease checks and reach refreshes waiting alongside
    would otherwise move it on by their own intervals while a slow machine makes its
    first search, past the 30 s that settle a post made just before."""

    def __init__(self, poll_seconds: float) -> None:
        super().__init__()
        self.poll_seconds = poll_seconds
        self.next_poll = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        if seconds != self.poll_seconds:
            await FastSleep.__call__(self, seconds)
            return
        await self.next_poll.wait()
        self.next_poll.clear()
        await super().__call__(seconds)


async def test_polling_from_a_fresh_checkpoint_passes_only_settled_posts(
    database_url: str, fake_x: FakeX, http: aiohttp.ClientSession
) -> None:
    clock = PollsOnCue(poll_seconds=600)
    fresh = clock.post_id(-5)  # e.g. left by the stream just before falling back to polling
    made = fake_x.post(clock.post_id(-2), f"Made a moment ago {TAG}", "111")
    async with chorus(database_url, fake_x, poll_seconds=600) as services:
        await services.engine.ingest_public([], checkpoint=Checkpoint(CHECKPOINT, fresh))
        async with listening(services, http, clock) as listener:
            await until(listener, lambda x: x.counts["searches"] >= 1)
            # Stored at once, but search may not show yet what was made just before it.
            assert listener.counts["ideas"] == 1 and await checkpoint(services) == fresh
            clock.next_poll.set()
            await until(listener, lambda x: x.counts["searches"] >= 2)
            assert await checkpoint(services) == made["id"]
        assert len(await x_posts(services)) == 1
    first, second = fake_x.queries("search")[:2]
    assert "end_time" not in first and "end_time" in second  # X refuses end_time < since_id


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
        restart = len(fake_x.queries("search"))
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
    assert searches[restart]["since_id"] == pid(5)
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


async def test_a_post_search_shows_late_is_not_lost_after_a_drop(
    database_url: str, fake_x: FakeX, http: aiohttp.ClientSession
) -> None:
    clock = VirtualTime()
    before = fake_x.post(clock.post_id(-20), f"Streamed before the drop {TAG}", "101")
    away = fake_x.post(clock.post_id(-10), f"Made while the stream was down {TAG}", "102")
    after = fake_x.post(clock.post_id(3600), f"Made after it came back {TAG}", "103")
    fake_x.searchable -= {before["id"], after["id"]}

    def shows(post_id: str) -> bool:
        # The post made while away shows in search only from the second search after
        # the reconnect: the first one, made at once, does not find it yet.
        if post_id != away["id"]:
            return True
        calls = [call.endpoint for call in fake_x.calls]
        connections = [i for i, endpoint in enumerate(calls) if endpoint == "stream"]
        return len(connections) >= 2 and calls[connections[1] :].count("search") >= 2

    fake_x.search_shows = shows
    fake_x.streams = [[before, DROP], [after, HOLD]]
    async with (
        chorus(database_url, fake_x, mode="stream") as services,
        listening(services, http, clock) as listener,
    ):
        await until(listener, lambda x: x.counts["catch_ups"] >= 2)
        posts = await x_posts(services)
        assert await checkpoint(services) == after["id"]
    ids = [before["id"], away["id"], after["id"]]
    assert sorted(p.channel_message_id for p in posts) == ids
    second = fake_x.queries("search")[2:4]  # the two searches after the reconnect
    assert [q["since_id"] for q in second] == [before["id"], before["id"]]


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


@pytest.mark.parametrize(
    "mode,refusing,reason",
    [
        ("stream", ["stream"], "set channels.twitter.mode to poll or auto"),
        ("poll", ["search"], "X refused recent search (403: Client Forbidden"),
        ("auto", ["stream", "search"], "X refused recent search (403: Client Forbidden"),
    ],
)
async def test_a_403_with_no_way_round_stops_the_listener_with_one_line(
    database_url: str,
    fake_x: FakeX,
    http: aiohttp.ClientSession,
    caplog,
    mode: str,
    refusing: list[str],
    reason: str,
) -> None:
    for endpoint in refusing:
        fake_x.fail(endpoint, Failure(403, NOT_ENROLLED), times=5)
    async with (
        chorus(database_url, fake_x, mode=mode) as services,
        listening(services, http) as listener,
    ):
        await until(listener, lambda x: x.state == "stopped")
    assert reason in listener.status()["reason"] and not listener.status()["running"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [f"X listener stopped: {listener.status()['reason']}"]
    assert len(fake_x.queries("search")) == (0 if mode == "stream" else 1)
