"""A PostgreSQL that stops answering (no replies, connections kept open, as in a network
partition) through a proxy the test starts: every SMS webhook answers 503 within 5 s,
/healthz answers within 1 s with the reason, and everything recovers by itself."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from sqlalchemy.engine import make_url

from storage.database import Store
from storage.errors import StoreUnavailable
from storage.timeouts import StoreTimeouts
from tests.fakes.silent_proxy import SilentProxy
from tests.twilio_fakes import Phone, running_chorus, twilio_settings


def through(proxy: SilentProxy, url: str) -> str:
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(False)


async def timed(awaitable) -> tuple[float, object]:
    started = time.monotonic()
    result = await awaitable
    return time.monotonic() - started, result


async def healthz(http: aiohttp.ClientSession, port: int) -> tuple[int, dict]:
    async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
        return response.status, await response.json()


async def test_a_silent_postgres_answers_503_in_time_and_recovers(postgres_url: str) -> None:
    target = make_url(postgres_url)
    async with SilentProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        settings = twilio_settings(through(proxy, postgres_url))
        async with running_chorus(settings) as runtime, aiohttp.ClientSession() as http:
            phones = [Phone(http, runtime.port, f"+4477009003{i:02d}") for i in range(12)]
            assert (await phones[0].send("hello")).status == 200
            assert (await healthz(http, runtime.port))[0] == 200

            proxy.silence()
            elapsed, answers = await timed(
                asyncio.gather(*(phone.send("hello again") for phone in phones))
            )
            assert [answer.status for answer in answers] == [503] * len(phones)
            assert elapsed < 5, f"the webhooks took {elapsed:.1f} s to answer 503"

            for _ in range(3):  # also while the first probe is still stuck
                elapsed, (status, body) = await timed(healthz(http, runtime.port))
                assert status == 503 and elapsed < 1, (status, elapsed)
                assert body["store"]["ok"] is False and body["store"]["error"]

            proxy.resume()
            answer = await phones[1].send("back again")
            assert answer.status == 200 and answer.messages
            status, body = await healthz(http, runtime.port)
            assert status == 200 and body["store"]["ok"] is True, body


async def test_healthz_is_not_queued_behind_writers(database_url: str) -> None:
    # Every pooled connection (SQLite: the writers' turn) is held by a writer that waits;
    # the probe has its own connection and still answers at once.
    store = Store.connect(database_url, timeouts=StoreTimeouts(pool_seconds=0.5))
    count = 20 if store.backend != "sqlite" else 1  # PostgreSQL: the whole pool
    held: list = []
    all_held, release = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with store.transaction() as unit:
            await unit.participants.count()
            held.append(unit)
            if len(held) == count:
                all_held.set()
            await release.wait()

    writers = [asyncio.create_task(writer()) for _ in range(count)]
    try:
        await all_held.wait()
        elapsed, state = await timed(store.probe())
        assert state["ok"] is True and elapsed < 1
        if store.backend != "sqlite":
            try:
                async with store.reader() as unit:
                    await unit.participants.count()
            except StoreUnavailable as error:
                assert "QueuePool" in str(error) or "timeout" in str(error).lower()
            else:
                raise AssertionError("the pool checkout should have timed out")
    finally:
        release.set()
        await asyncio.gather(*writers)
        await store.close()
