"""Benchmark: how many SMS webhooks per second Chorus handles over loopback, and how long
its longest SMS reply is.

Starts `chorus run` in a process of its own (SQLite in a temporary directory by default,
or the store given with --database-url, which it upgrades first), then many phones text
it at once, every request signed as Twilio signs it. Phones that share an idea come
first, untimed, so there is something to vote on. Then each phone goes through a whole
journey: consent, the three gateway questions, an idea (some long enough to need
shortening when shown), voting, a comment, MYDATA and HELP; every reply is checked
against the step it answers. Prints messages per second, latency percentiles, the
segment count of the longest reply seen, and any reply that was off the script.

    .venv/bin/python bench/sms_webhook.py
    .venv/bin/python bench/sms_webhook.py --phones 200 --concurrency 32
    .venv/bin/python bench/sms_webhook.py --database-url postgresql+asyncpg://postgres@127.0.0.1/chorus_bench
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import os
import platform
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import yaml

from bot.channels.sms_segments import measure

REPO = Path(__file__).resolve().parents[1]
PUBLIC_URL = "https://bench.example.org/webhooks/sms"
AUTH_TOKEN = secrets.token_hex(16)
START_TIMEOUT = 120  # seconds for Chorus to start serving
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30)
LOG: deque[str] = deque(maxlen=20)  # the server's last log lines, shown if it fails


def an_idea(phone: int) -> str:
    idea = f"Physiotherapists in every GP surgery, so people are seen sooner ({phone}). "
    return (idea * (1 + phone % 6)).strip()  # up to ~500 characters: some are shortened


def journey(phone: int) -> list[tuple[str, str]]:
    """What one phone sends, each with a piece of the reply it should get."""
    return [
        ("START", "Welcome to"), ("YES", "Which best describes you?"),
        ("1", "Which allied health job"), ("11", "Where do you live"),
        ("london", "How old are you?"), ("skip", "You are all set"),
        (an_idea(phone), "saved as idea"), ("no", "not send you news"),
        ("VOTE", "Idea "), ("1", "Idea "), ("COMMENT", "What is your comment?"),
        ("Yes, and in care homes too", "Your comment on idea"), ("VOTE", "Idea "),
        ("2", "Idea "), ("3", ""), ("MYDATA", "We hold this about you"), ("HELP", "STOP"),
    ]  # fmt: skip


def seeding(phone: int) -> list[tuple[str, str]]:
    """Untimed, before the run: a phone that shares an idea, so there are ideas to vote
    and comment on from the first timed message."""
    return [
        ("START", ""), ("YES", ""), ("skip", ""), ("skip", ""), ("skip", ""),
        (an_idea(phone), "saved as idea"), ("no", ""),
    ]  # fmt: skip


def signature(url: str, fields: list[tuple[str, str]]) -> str:
    """Twilio's scheme: URL + sorted field names and values, HMAC-SHA1, base64."""
    data = url + "".join(name + value for name, value in sorted(fields))
    digest = hmac.new(AUTH_TOKEN.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def write_config(directory: Path) -> Path:
    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    today = date.today()  # keep the first question open whatever the date
    first = config["questions"][0]
    first["opens"], first["closes"] = today - timedelta(days=30), today + timedelta(days=30)
    config["questions"] = [first]
    config["channels"]["sms"]["public_url"] = PUBLIC_URL
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def environment(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "TELEGRAM_", "X_"))}
    env.update(
        CHORUS_DATABASE_URL=database_url,
        CHORUS_SECRET=secrets.token_hex(24),
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        PYTHONPATH=str(REPO),
    )
    return env


def start_chorus(config: Path, env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--config", str(config), "--port", "0"],
        cwd=cwd, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT
    for line in process.stderr:
        match = re.search(r"serving on http://127\.0\.0\.1:(\d+)", line)
        if match:
            # Keep reading its log, so a full pipe never stalls the server.
            threading.Thread(target=LOG.extend, args=(process.stderr,), daemon=True).start()
            return process, int(match.group(1))
        if time.monotonic() > deadline:
            break
    process.kill()
    raise SystemExit("Chorus did not start; run `chorus run` by hand to see why")


async def text(
    http: aiohttp.ClientSession, url: str, number: str, body: str, latencies: list[float]
) -> list[str]:
    sid = "SM" + secrets.token_hex(16)
    fields = [
        ("AccountSid", "AC" + "0" * 32), ("ApiVersion", "2010-04-01"), ("Body", body),
        ("From", number), ("MessageSid", sid), ("NumMedia", "0"), ("NumSegments", "1"),
        ("SmsMessageSid", sid), ("SmsSid", sid), ("SmsStatus", "received"),
        ("To", "+447700900000"),
    ]  # fmt: skip
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature(PUBLIC_URL, fields),
    }
    started = time.perf_counter()
    async with http.post(url, data=urlencode(fields), headers=headers) as response:
        answer = await response.text()
        if response.status != 200:
            log = "".join(LOG)
            raise SystemExit(f"webhook answered {response.status}: {answer[:200]}\n{log}")
    latencies.append(time.perf_counter() - started)
    return [m.text or "" for m in ET.fromstring(answer).iter("Message")]


@dataclass
class Run:
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    off_script: list[str] = field(default_factory=list)  # replies that missed what was due


async def drive(port: int, phones: int, concurrency: int) -> Run:
    url = f"http://127.0.0.1:{port}/webhooks/sms"
    timed, untimed = Run(), Run()
    gate = asyncio.Semaphore(concurrency)
    run_id = secrets.randbelow(10_000)

    async def one_phone(http, number: str, script: list[tuple[str, str]], into: Run) -> None:
        async with gate:
            for body, expected in script:
                messages = await text(http, url, number, body, into.latencies)
                into.replies.extend(messages)
                if expected not in "\n".join(messages):
                    into.off_script.append(f"{body[:20]!r} -> {messages!r:.100}")

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=REQUEST_TIMEOUT) as http:
        # Warm up with as many phones at once as will be, so the store's connections are
        # all open; each shares an idea, so voting and commenting have ideas from the start.
        await asyncio.gather(
            *(
                one_phone(http, f"+45{run_id:04d}{n:06d}", seeding(n), untimed)
                for n in range(concurrency)
            )
        )
        started = time.perf_counter()
        await asyncio.gather(
            *(
                # New phones each run, even on an old store.
                one_phone(http, f"+44{run_id:04d}{n:06d}", journey(n), timed)
                for n in range(phones)
            )
        )
        timed.elapsed = time.perf_counter() - started
    timed.off_script += untimed.off_script
    return timed


def report(run: Run, backend: str) -> None:
    elapsed, latencies, replies = run.elapsed, run.latencies, run.replies
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    longest = max(replies, key=lambda reply: (measure(reply).segments, len(reply)))
    measured = measure(longest)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, store: {backend}")  # fmt: skip
    rate = len(latencies) / elapsed
    print(f"messages: {len(latencies)} in {elapsed:.2f} s = {rate:.1f} messages/s")
    print(
        f"latency ms: p50 {cuts[49] * 1000:.1f}  p90 {cuts[89] * 1000:.1f}  "
        f"p99 {cuts[98] * 1000:.1f}  max {max(latencies) * 1000:.1f}"
    )
    over = sum(1 for reply in replies if measure(reply).segments > 2)
    print(f"replies: {len(replies)}, over two segments: {over}")
    print(f"replies off the script: {len(run.off_script)}")
    for miss in run.off_script[:3]:
        print(f"  {miss}")
    print(
        f"longest reply: {measured.segments} segments ({measured.encoding}, "
        f"{measured.units} units): {longest!r}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phones", type=int, default=100, help="phones, each a whole journey")
    parser.add_argument("--concurrency", type=int, default=16, help="phones texting at once")
    parser.add_argument("--database-url", help="store to use (default: a new SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chorus-bench-") as tmp:
        directory = Path(tmp)
        config = write_config(directory)
        database_url = args.database_url or f"sqlite+aiosqlite:///{directory / 'bench.db'}"
        env = environment(database_url)
        if args.database_url:
            subprocess.run(
                [sys.executable, "-m", "bot", "db", "upgrade", "--config", str(config)],
                cwd=directory, env=env, check=True,
            )  # fmt: skip
        process, port = start_chorus(config, env, directory)
        try:
            run = asyncio.run(drive(port, args.phones, args.concurrency))
        finally:
            process.terminate()
            process.wait(timeout=30)
    report(run, "postgresql" if "postgresql" in database_url else "sqlite")


if __name__ == "__main__":
    main()
