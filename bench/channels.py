"""Benchmark: requests per second and CPU milliseconds per request for every webhook
channel (WhatsApp, SMS, Telegram), driven by the same tables of recorded provider
payloads as the channel tests (tests/test_whatsapp.py, tests/test_sms.py,
tests/test_telegram_webhook.py).

For each channel, Chorus (its server, the real channel registry and a SQLite store in a
temporary directory, or --database-url) runs in this process with the channel's fake
provider API on a random local port. Each table row that is accepted (200, with a sender)
is replayed with a fresh message id and sender for every request, signed by the channel's
test driver, so every request is a new message that is verified, parsed, applied and
committed, and its replies sent to the fake. Rows refused as forged (403) are timed
separately. The baseline, measured in the same run, is a bare aiohttp handler that reads
the same bodies and answers 200 without doing anything: the ratio says what the channel
path costs over the HTTP round trip itself. CPU time is this process's (server, load
generator and fakes alike, for the baseline too), divided by the requests.

    .venv/bin/python bench/channels.py
    .venv/bin/python bench/channels.py --requests 600 --concurrency 16 --channels whatsapp sms
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.channel_harness import ChannelCase, ChannelDriver, ChorusUnderTest  # noqa: E402
from tests.fakes.telegram_bot_api import FakeBotAPI  # noqa: E402
from tests.fakes.whatsapp_graph import FakeGraphAPI  # noqa: E402


@dataclass(frozen=True)
class Figures:
    requests: int
    seconds: float
    cpu_seconds: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu_seconds / self.requests


def fresh(case: ChannelCase, n: int) -> bytes:
    """The row's body as a new message: its external id and sender made unique."""
    body = case.body
    if case.external_id:
        new_id = f"{case.external_id[: max(1, len(case.external_id) - 8)]}{n:08d}"
        body = body.replace(case.external_id.encode(), new_id.encode())
    if case.sender:
        digits = case.sender.lstrip("+")
        new_sender = f"{digits[: len(digits) - 6]}{n % 1_000_000:06d}"
        body = body.replace(digits.encode(), new_sender.encode())
    return body


async def drive(
    http: aiohttp.ClientSession,
    url: str,
    bodies: Sequence[bytes],
    sign: Callable[[bytes], dict[str, str]],
    expect: int,
    concurrency: int,
) -> Figures:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    wrong: list[int] = []

    async def worker() -> None:
        while not queue.empty():
            body = queue.get_nowait()
            async with http.post(url, data=body, headers=sign(body)) as response:
                await response.read()
                if response.status != expect:
                    wrong.append(response.status)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    figures = Figures(len(bodies), time.perf_counter() - started, time.process_time() - cpu)
    if wrong:
        raise SystemExit(f"{len(wrong)} requests answered {sorted(set(wrong))}, not {expect}")
    return figures


async def bare_baseline(bodies: Sequence[bytes], concurrency: int) -> Figures:
    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/bare", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:
            return await drive(
                http, f"http://127.0.0.1:{port}/bare", bodies, lambda _: {}, 200, concurrency
            )
    finally:
        await runner.cleanup()


@dataclass(frozen=True)
class Bench:
    name: str
    cases: Sequence[ChannelCase]
    chorus: Callable[[str], contextlib.AbstractAsyncContextManager[tuple[ChannelDriver, object]]]


@contextlib.asynccontextmanager
async def whatsapp(database_url: str) -> AsyncIterator[tuple[ChannelDriver, object]]:
    from tests.test_whatsapp import PHONE_ID, TOKEN, WhatsAppDriver, whatsapp_settings

    async with FakeGraphAPI(TOKEN, PHONE_ID) as graph:
        yield WhatsAppDriver(graph), whatsapp_settings(database_url, graph.base_url)


@contextlib.asynccontextmanager
async def sms(database_url: str) -> AsyncIterator[tuple[ChannelDriver, object]]:
    from tests.test_sms import SmsDriver
    from tests.twilio_fakes import twilio_settings

    yield SmsDriver(), twilio_settings(database_url)


@contextlib.asynccontextmanager
async def telegram(database_url: str) -> AsyncIterator[tuple[ChannelDriver, object]]:
    from tests.telegram_harness import TOKEN, telegram_settings
    from tests.test_telegram_webhook import TelegramDriver

    async with FakeBotAPI(TOKEN) as api:
        yield TelegramDriver(api), telegram_settings(database_url, api.base_url, mode="webhook")


def tables() -> dict[str, Bench]:
    from tests.test_sms import SMS_CASES
    from tests.test_telegram_webhook import TELEGRAM_CASES
    from tests.test_whatsapp import CASES as WHATSAPP_CASES

    return {
        "whatsapp": Bench("whatsapp", WHATSAPP_CASES, whatsapp),
        "sms": Bench("sms", SMS_CASES, sms),
        "telegram": Bench("telegram", TELEGRAM_CASES, telegram),
    }


async def run_channel(
    bench: Bench, database_url: str, requests: int, concurrency: int
) -> tuple[Figures, Figures, Figures | None, list[bytes]]:
    accepted = [c for c in bench.cases if c.status == 200 and c.sender and c.external_id]
    forged = [c for c in bench.cases if c.status == 403 and c.signer == "forged"]
    bodies = [fresh(accepted[n % len(accepted)], n) for n in range(requests)]
    async with contextlib.AsyncExitStack() as stack:
        driver, settings = await stack.enter_async_context(bench.chorus(database_url))
        chorus = await stack.enter_async_context(ChorusUnderTest(settings))  # type: ignore[arg-type]
        assert chorus.http is not None
        url = chorus.url(driver.path)
        channel = chorus.channel(driver.channel)
        warm = [fresh(accepted[0], requests + n) for n in range(10)]
        await drive(chorus.http, url, warm, lambda b: driver.sign(url, b, "valid"), 200, 2)
        await channel.drained()  # type: ignore[attr-defined]
        started, cpu = time.perf_counter(), time.process_time()
        await drive(
            chorus.http, url, bodies, lambda b: driver.sign(url, b, "valid"), 200, concurrency
        )
        answered = Figures(requests, time.perf_counter() - started, time.process_time() - cpu)
        await channel.drained()  # type: ignore[attr-defined]  # replies sent, too
        ok = Figures(requests, time.perf_counter() - started, time.process_time() - cpu)
        refused = None
        if forged:
            forged_bodies = [forged[0].body] * requests
            refused = await drive(
                chorus.http,
                url,
                forged_bodies,
                lambda b: driver.sign(url, b, "forged"),
                403,
                concurrency,
            )
    return answered, ok, refused, bodies


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="per channel")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    parser.add_argument("--channels", nargs="+", default=["whatsapp", "sms", "telegram"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    benches = tables()
    print(f"{args.requests} requests per channel, {args.concurrency} at a time, over loopback")
    print(
        f"{'webhook':<22}{'requests/s':>12}{'CPU ms/req':>12}"
        f"{'x bare (time)':>15}{'x bare (CPU)':>14}"
    )
    for name in args.channels:
        with tempfile.TemporaryDirectory() as directory:
            url = args.database_url or f"sqlite+aiosqlite:///{directory}/chorus.db"
            answered, ok, refused, bodies = await run_channel(
                benches[name], url, args.requests, args.concurrency
            )
        bare = await bare_baseline(bodies, args.concurrency)
        # "answered": the webhooks alone; "accepted": until their replies were sent too,
        # which the provider's own rate limit can bound (Telegram: 30 messages a second).
        rows = [(f"{name} answered", answered), (f"{name} accepted", ok)]
        if refused is not None:
            rows.append((f"{name} forged (403)", refused))
        rows.append((f"bare aiohttp ({name})", bare))
        for label, figures in rows:
            print(
                f"{label:<22}{figures.per_second:>12.0f}{figures.cpu_ms:>12.2f}"
                f"{bare.per_second / figures.per_second:>14.1f}x"
                f"{figures.cpu_ms / bare.cpu_ms:>13.1f}x"
            )


if __name__ == "__main__":
    asyncio.run(main())
