"""Telegram's 30 messages a second shared between the workers of one bot: the workers
count one another through the store (storage/presence.py) and each sends at its share
(bot/channels/telegram/rate_share.py)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from functools import partial

import pytest
from sqlalchemy import text

from bot.channels.telegram.rate_share import SharedRateLimiter
from storage.database import Store
from storage.presence import Presence


def _work() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"  # slots of its own, whatever else holds some


async def test_workers_are_counted_as_they_join_leave_and_die(database_url: str) -> None:
    stores = [Store.connect(database_url) for _ in range(3)]
    work = _work()
    first, second, third = (Presence(store, work) for store in stores)
    try:
        if stores[0].backend == "sqlite":  # one process serves a SQLite store
            await first.join()
            assert await first.count() == 1
            return
        assert await first.count() == 1  # not joined yet: counts itself
        await first.join()
        assert await first.count() == 1
        await second.join()
        await third.join()
        assert [await p.count() for p in (first, second, third)] == [3, 3, 3]
        await second.leave()
        assert await first.count() == 2
        # A worker that dies: its connection goes, and its slot with it.
        async with stores[0].engine.connect() as connection:
            await connection.execute(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": await _lease_pid(third)}
            )
            await connection.commit()
        assert await first.count() == 1
        assert await third.count() == 2  # its slot was lost: the first, and itself
        await third.join()  # it takes one again
        assert await first.count() == 2
    finally:
        for presence in (first, second, third):
            await presence.leave()
        for store in stores:
            await store.close()


async def _lease_pid(presence: Presence) -> int:
    held = presence._held
    assert held is not None and held._connection is not None
    return int(await held._connection.scalar(text("SELECT pg_backend_pid()")))


async def _time_calls(limiter: SharedRateLimiter, calls: int) -> float:
    async def send() -> bool:
        return True

    started = time.monotonic()
    await asyncio.gather(
        *(
            limiter.process_request(send, (), {}, "sendMessage", {"chat_id": n}, None)
            for n in range(calls)
        )
    )
    return time.monotonic() - started


async def test_each_worker_sends_at_its_share_of_the_bots_rate(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.channels.telegram.rate_share")
    stores = [Store.connect(database_url) for _ in range(2)]
    work = _work()
    limiters = [SharedRateLimiter(partial(Presence, store, work)) for store in stores]
    try:
        for limiter in limiters:
            await limiter.initialize()
        for limiter in limiters:
            await limiter.recount()  # each has joined once this returns...
        for limiter in limiters:
            await limiter.recount()  # ...so these counts see both
        expected = 1 if stores[0].backend == "sqlite" else 2
        assert [limiter.workers for limiter in limiters] == [expected, expected]
        assert limiters[0].per_second == 30 / expected
        if expected == 2:
            assert "2 workers share the bot's 30 a second, 15.0 a second each" in caplog.text
            # The bucket holds a second's worth: of 20 sends at 15 a second the last five
            # wait a third of a second (at 30 a second none would wait). A lower bound,
            # which a loaded machine cannot break.
            assert await _time_calls(limiters[0], 20) >= 0.25
        await limiters[1].shutdown()  # the second worker stops: the first takes it all
        await limiters[0].recount()
        assert limiters[0].workers == 1 and limiters[0].per_second == 30
    finally:
        for limiter in limiters:
            await limiter.shutdown()
        for store in stores:
            await store.close()


async def test_an_unreachable_store_leaves_the_share_as_it_was() -> None:
    store = Store.connect("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    limiter = SharedRateLimiter(partial(Presence, store, _work()))
    try:
        await limiter.initialize()
        await limiter.recount()  # refused: logged, not raised
        assert limiter.workers == 1 and limiter.per_second == 30
        assert await _time_calls(limiter, 3) < 1.0  # and it still sends
    finally:
        await limiter.shutdown()
        await store.close()


async def test_a_worker_past_the_slots_counts_itself_and_says_so_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if not database_url.startswith("postgresql"):
        return  # SQLite takes no slots
    monkeypatch.setattr("storage.presence.SLOTS", 2)
    stores = [Store.connect(database_url) for _ in range(3)]
    work = _work()
    presences = [Presence(store, work) for store in stores]
    try:
        for presence in presences:
            await presence.join()
        await presences[2].join()  # tried again at the next count: no second warning
        assert [presence.joined for presence in presences] == [True, True, False]
        assert await presences[0].count() == 2  # the third holds no slot to be counted by
        assert await presences[2].count() == 3  # it counts the two, and itself
        assert caplog.text.count("more than 2 workers doing") == 1
    finally:
        for presence in presences:
            await presence.leave()
        for store in stores:
            await store.close()
