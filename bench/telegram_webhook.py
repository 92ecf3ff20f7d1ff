"""How many Telegram webhook updates per second Chorus handles, over loopback HTTP.

Chorus's web app serves POST /webhooks/telegram (webhook mode) with the real engine and
store; a fake Bot API (tests/fakes) receives the replies. Simulated people each send a
realistic sequence of updates in order (start, consent and gateway buttons, two ideas,
a follow-up answer, MYDATA, HELP), several people at once. Each request is timed until
its 200, which Chorus gives only after the update's transaction has committed.

    .venv/bin/python bench/telegram_webhook.py                      # SQLite in a temp dir
    .venv/bin/python bench/telegram_webhook.py --people 100 --concurrency 16
    .venv/bin/python bench/telegram_webhook.py \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/chorus_bench

A PostgreSQL database must exist; it is upgraded first. Its tables are not emptied, so
use a scratch database.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web
from sqlalchemy import func, select
from telegram.ext import AIORateLimiter

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.fakes

from bot.channels import media, telegram  # noqa: E402
from bot.channels.telegram.channel import (  # noqa: E402
    SECRET_HEADER,
    WEBHOOK_PATH,
    TelegramChannel,
)
from bot.config import Environment, Settings, parse_settings  # noqa: E402
from bot.server import build_web_app  # noqa: E402
from bot.services import open_services  # noqa: E402
from storage.database import Store, is_sqlite  # noqa: E402
from storage.models import ProcessedMessage  # noqa: E402
from tests.fakes.telegram_bot_api import FakeBotAPI, User  # noqa: E402

TOKEN = "7000000001:AAFakeTokenForChorusBench_0123456789"
SECRET = "bench-webhook-secret"
IDEAS = (
    "Physios in every GP surgery would cut waiting times for back pain",
    "Let dietitians refer patients straight to specialists without a GP letter",
    "Longer appointments for people recovering from a stroke",
    "Speech and language therapy by video call for people in rural areas",
)


def settings_for(database_url: str, base_url: str) -> Settings:
    data = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    today = date.today()
    data["questions"] = data["questions"][:1]
    data["questions"][0]["opens"] = today - timedelta(days=30)
    data["questions"][0]["closes"] = today + timedelta(days=365)
    data["channels"]["telegram"] = {
        "mode": "webhook",
        "base_url": base_url,
        "public_url": "https://chorus.example/webhooks/telegram",
    }
    env = Environment.from_environ(
        {
            "CHORUS_DATABASE_URL": database_url,
            "CHORUS_SECRET": "bench-secret-0123456789abcdef0123456789",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
        }
    )
    return Settings(parse_settings(data, REPO / "config.yaml"), env, REPO / "config.yaml")


def script(api: FakeBotAPI, user: User, number: int) -> list[dict]:
    """The updates one person sends, in order."""
    card = api.bot_message(user.id, "...")  # the message whose buttons are pressed

    def press(data: str) -> dict:
        return api.press_update(user, card, data)

    return [
        api.text_update(user, "/start"),
        press("consent:yes"),
        press("gw:role:patient" if number % 3 else "gw:role:physiotherapist"),
        press("gw:region:london"),
        press("gw:age_band:35-44"),
        api.text_update(user, IDEAS[number % len(IDEAS)]),
        press("followup:no"),
        api.text_update(user, IDEAS[(number + 1) % len(IDEAS)] + f" (person {number})"),
        api.text_update(user, "MYDATA"),
        api.text_update(user, "HELP"),
    ]


async def stored_once(store: Store, updates: list[dict]) -> int:
    """How many of these updates the store recorded as processed."""
    ids = [str(update["update_id"]) for update in updates]
    async with store.reader() as unit:
        query = (
            select(func.count())
            .select_from(ProcessedMessage)
            .where(ProcessedMessage.channel == "telegram", ProcessedMessage.message_id.in_(ids))
        )
        return await unit.session.scalar(query)


async def run(args: argparse.Namespace, workdir: Path) -> bool:
    """Run the benchmark and print its figures; False when an update was not answered 200
    or not stored exactly once."""
    database_url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    # Fresh update and user ids each run, so a reused database sees no replays.
    run_id = int(time.time())
    async with FakeBotAPI(TOKEN, first_update_id=run_id * 10_000) as api:
        settings = settings_for(database_url, api.base_url)
        store = Store.connect(database_url)
        await store.upgrade()
        services = await open_services(settings, store=store, channel_media=media())
        channel = TelegramChannel(
            services,
            token=TOKEN,
            settings=telegram.DECLARATION.settings_from(settings),
            webhook_secret=SECRET,
            # Telegram's own send limits (30 a second) would make the replies, sent after
            # each commit, the bottleneck of a benchmark of the webhook itself.
            rate_limiter=AIORateLimiter(overall_max_rate=0, group_max_rate=0),
        )
        runner = web.AppRunner(build_web_app(services, [channel]), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}{WEBHOOK_PATH}"
        await channel.start()
        people = [User(run_id * 1000 + n, f"P{n}") for n in range(args.people)]
        scripts = [script(api, person, n) for n, person in enumerate(people)]
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        queue: asyncio.Queue[list[dict]] = asyncio.Queue()
        for updates in scripts:
            queue.put_nowait(updates)

        async def worker(http: aiohttp.ClientSession) -> None:
            while not queue.empty():
                for update in queue.get_nowait():
                    started = time.perf_counter()
                    async with http.post(url, json=update, headers={SECRET_HEADER: SECRET}) as r:
                        await r.read()
                    latencies.append(time.perf_counter() - started)
                    statuses[r.status] = statuses.get(r.status, 0) + 1

        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(connector=connector) as http:
            started = time.perf_counter()
            await asyncio.gather(*(worker(http) for _ in range(args.concurrency)))
            elapsed = time.perf_counter() - started
        await channel.stop()  # waits for the replies still being sent
        replies = len(api.calls_of("sendMessage", "editMessageText"))
        stored = await stored_once(store, [update for s in scripts for update in s])
        await runner.cleanup()
        await services.close()

    total = len(latencies)
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    backend = "sqlite" if is_sqlite(database_url) else "postgresql"
    print(f"Telegram webhook benchmark ({platform.python_version()}, {os.cpu_count()} CPUs)")
    print(f"store: {backend}; people: {args.people}; concurrency: {args.concurrency}")
    print(f"updates: {total} in {elapsed:.2f} s = {total / elapsed:.1f} updates/s")
    print(
        "latency to 200 (ms): "
        f"p50 {quantiles[49] * 1000:.1f}, p90 {quantiles[89] * 1000:.1f}, "
        f"p99 {quantiles[98] * 1000:.1f}, max {max(latencies) * 1000:.1f}"
    )
    print(f"statuses: {dict(sorted(statuses.items()))}; replies sent to the fake: {replies}")
    print(f"stored: {stored} of {total} updates recorded as processed")
    return statuses == {200: total} and stored == total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=60, help="default: %(default)s")
    parser.add_argument("--concurrency", type=int, default=8, help="default: %(default)s")
    parser.add_argument("--database-url", help="default: a new SQLite file in a temp dir")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="chorus-bench-") as workdir:
        sound = asyncio.run(run(args, Path(workdir)))
    if not sound:
        sys.exit("some updates were not answered 200 or not stored exactly once")


if __name__ == "__main__":
    main()
