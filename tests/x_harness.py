"""Running the X listener against the fake X API (tests/fakes/x_api.py), for the tests.

`chorus()` opens Chorus's services with the X token set and channels.twitter pointing at
the fake; `listening()` runs the listener as Chorus would, with its waits sped up:
`FastSleep` records each wait and sleeps a thousandth of it, and `VirtualTime` also
moves the listener's clock on by each wait, for tests where the time a post was made
(its id) matters.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp
from sqlalchemy import select

from bot.channels import media
from bot.channels.twitter import TwitterChannel
from bot.channels.x_listener import CHECKPOINT, Timings, XListener
from bot.channels.x_posts import TWEET_FIELDS
from bot.channels.x_search import TWITTER_EPOCH_MS
from bot.services import Services, open_services
from storage.models import Contribution
from tests.conftest import make_settings, with_environ
from tests.fakes.x_api import FakeX

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


class VirtualTime(FastSleep):
    """FastSleep with a clock of its own: each wait ends at the time it was due, so the
    listener's clock runs a thousand times faster too. Pass `clock` as its wall clock."""

    def __init__(self) -> None:
        super().__init__()
        self.now = time.time()

    def clock(self) -> float:
        return self.now

    async def __call__(self, seconds: float) -> None:
        due = self.now + seconds
        await super().__call__(seconds)
        self.now = max(self.now, due)

    def post_id(self, seconds_from_now: float) -> str:
        """The id X gives a post made then (ids carry their time)."""
        millis = int((self.now + seconds_from_now) * 1000) - TWITTER_EPOCH_MS
        return str(millis << 22)


@asynccontextmanager
async def chorus(database_url: str, fake: FakeX, **twitter: object) -> AsyncIterator[Services]:
    """Chorus's services with the X token set and channels.twitter pointing at the fake."""
    settings = make_settings(
        database_url,
        channels={"twitter": {"api_base": fake.url, "mode": "poll", **twitter}},
    )
    settings = with_environ(settings, X_BEARER_TOKEN=TOKEN)
    services = await open_services(settings, channel_media=media())
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
    sleep = sleep or FastSleep()
    clock = sleep.clock if isinstance(sleep, VirtualTime) else time.time
    channel = TwitterChannel(
        services, http, TOKEN, timings=Timings(**timings), sleep=sleep, wall_clock=clock
    )
    await channel.start()
    try:
        yield channel.listener
    finally:
        await channel.stop()


async def until(listener: XListener, predicate: Callable[[XListener], bool]) -> None:
    # Returns as soon as the listener gets there; the bound only stops a test that never
    # would, and leaves room for a machine busy with other work (or the other worker).
    async with asyncio.timeout(60):
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
