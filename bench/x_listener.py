"""Benchmark: how fast the X listener stores public posts, on SQLite and PostgreSQL.

Two figures per store:
- ingest: Engine.ingest_public on batches of 100 posts (70% ideas, 20% retweets of them,
  10% replies), enrichment included: posts per second and batch latency (p50, p95);
- poll: the whole listener in poll mode against the local fake X API (tests/fakes) over
  real HTTP, from start until every post is stored: posts per second.

    python bench/x_listener.py                   # 2,000 posts, SQLite and PostgreSQL
    python bench/x_listener.py --posts 500 --no-postgres

PostgreSQL is used when reachable at CHORUS_TEST_PG_ADMIN (default
postgresql://postgres@127.0.0.1:5432/postgres); a scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402

from bot.channels import media  # noqa: E402
from bot.channels.twitter import TwitterChannel  # noqa: E402
from bot.channels.x_listener import Timings  # noqa: E402
from bot.services import open_services  # noqa: E402
from handlers.types import PublicPost  # noqa: E402
from storage.database import Store  # noqa: E402
from tests.conftest import make_settings, with_environ  # noqa: E402
from tests.fakes.x_api import FakeX  # noqa: E402

TOKEN = "bench-bearer-token"
BASE_ID = 1_800_000_000_000_000_000
WORDS = (
    "physios in every GP surgery would cut waiting times",
    "more dietitians in schools please",
    "speech and language therapy waits are far too long",
    "podiatry in care homes keeps people walking",
    "occupational therapists should lead discharge planning",
)


def mixed_posts(count: int, now: datetime) -> list[PublicPost]:
    posts = []
    for number in range(1, count + 1):
        post_id = str(BASE_ID + number)
        text = f"{WORDS[number % len(WORDS)]} ({number}) #AHPsIntoAction"
        kind = number % 10
        if kind in (7, 8) and number > 10:  # a retweet of an earlier idea
            target = str(BASE_ID + number - 7)
            posts.append(
                PublicPost("x", post_id, f"r{number}", f"RT @a: {text}", now, reposted_id=target)
            )
        elif kind == 9 and number > 10:  # a reply to an earlier idea
            target = str(BASE_ID + number - 9)
            posts.append(
                PublicPost("x", post_id, f"c{number}", f"@a agreed {text}", now, reply_to_id=target)
            )
        else:
            posts.append(PublicPost("x", post_id, f"a{number % 300}", text, now))
    return posts


async def bench_ingest(url: str, count: int) -> str:
    services = await open_services(make_settings(url), channel_media=media())
    try:
        posts = mixed_posts(count, datetime.now(UTC))
        latencies = []
        started = time.perf_counter()
        for start in range(0, count, 100):
            batch_started = time.perf_counter()
            await services.engine.ingest_public(posts[start : start + 100])
            latencies.append(time.perf_counter() - batch_started)
        elapsed = time.perf_counter() - started
    finally:
        await services.close()
    p95 = sorted(latencies)[max(0, math.ceil(len(latencies) * 0.95) - 1)]  # nearest rank
    return (
        f"ingest  {count / elapsed:8.0f} posts/s   batch of 100: "
        f"p50 {statistics.median(latencies) * 1000:6.1f} ms  p95 {p95 * 1000:6.1f} ms"
    )


async def bench_poll(url: str, count: int) -> str:
    fake = FakeX(TOKEN)
    await fake.start()
    for number in range(1, count + 1):
        fake.post(
            BASE_ID + number,
            f"{WORDS[number % len(WORDS)]} ({number}) #AHPsIntoAction",
            f"a{number % 300}",
        )
    settings = make_settings(url, channels={"twitter": {"api_base": fake.url, "mode": "poll"}})
    settings = with_environ(settings, X_BEARER_TOKEN=TOKEN)
    services = await open_services(settings, channel_media=media())

    async def fast(seconds: float) -> None:
        await asyncio.sleep(seconds / 1000)

    try:
        async with aiohttp.ClientSession() as http:
            channel = TwitterChannel(services, http, TOKEN, timings=Timings(), sleep=fast)
            started = time.perf_counter()
            await channel.start()
            try:
                async with asyncio.timeout(600):
                    await channel.listener.wait_until(lambda x: x.counts["ideas"] >= count)
                elapsed = time.perf_counter() - started
            finally:
                await channel.stop()
    finally:
        await services.close()
        await fake.close()
    return f"poll    {count / elapsed:8.0f} posts/s   ({count} posts in {elapsed:.1f} s)"


async def migrated(url: str) -> None:
    store = Store.connect(url)
    try:
        await store.upgrade()
    finally:
        await store.close()


async def run(count: int, postgres: bool) -> None:
    print(
        f"X listener benchmark: {count} posts, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory() as scratch:
        for name in ("ingest", "poll"):
            url = f"sqlite+aiosqlite:///{Path(scratch) / f'{name}.db'}"
            await migrated(url)
            line = await (bench_ingest if name == "ingest" else bench_poll)(url, count)
            print(f"sqlite      {line}")
    if not postgres:
        return
    import asyncpg

    admin = os.environ.get("CHORUS_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
    for name in ("ingest", "poll"):
        database = f"chorus_bench_{uuid.uuid4().hex[:8]}"
        try:
            connection = await asyncpg.connect(admin, timeout=5)
        except (OSError, asyncpg.PostgresError) as error:
            print(f"postgresql  skipped: {error}")
            return
        await connection.execute(f'CREATE DATABASE "{database}"')
        await connection.close()
        base = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        url = f"{base}/{database}"
        try:
            await migrated(url)
            line = await (bench_ingest if name == "ingest" else bench_poll)(url, count)
            print(f"postgresql  {line}")
        finally:
            connection = await asyncpg.connect(admin, timeout=5)
            await connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000, help="how many posts (default 2000)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    asyncio.run(run(args.posts, not args.no_postgres))


if __name__ == "__main__":
    main()
