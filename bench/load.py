"""Load benchmark: whole journeys of signed SMS webhooks and Telegram webhook updates from
many simulated people, sent over loopback to Chorus and, in the same run, to what Chorus
must be compared with.

Each person goes through a journey (start, consent, three skipped gateway questions, an
idea, VOTE and five votes); a share of them do it over Telegram's webhook, the rest by SMS
(each request signed as Twilio signs it). Before the timed run a few people share ideas,
untimed, so there is something to vote on. For every backend asked for, it measures:

- bare: the same number of rows inserted straight into the same kind of store, one
  INSERT + COMMIT each (no HTTP; on PostgreSQL from --in-flight connections at once) —
  what a commit per message costs at best;
- naive: an aiohttp server that checks the Twilio signature (or the Telegram secret) and
  does one INSERT + COMMIT per message (SQLite in WAL mode, or PostgreSQL), on the same
  traffic;
- chorus: `chorus run` in a process of its own with a temporary config and store (on
  PostgreSQL once with one worker and once with two, the requests spread over them as a
  load balancer would, one person's messages alternating between workers).

Chorus is driven only over HTTP and through its command line and config, so this works
whatever the engine inside looks like. Printed for each: messages/s, p50/p95/p99 latency,
CPU ms per message of the server process(es) (not of this load generator), their peak
RSS, errors, and the ratios Chorus/naive and Chorus/bare.

The closed loop keeps `--in-flight` people sending at once, each waiting for its answer.
`--rate 500,1000` adds open-loop runs: messages offered at that fixed rate for
`--seconds`, whatever the answers, each latency counted from when the message was due
(so a server that falls behind shows it); a request unanswered after 15 s (when Twilio
gives up) is an error.

    .venv/bin/python bench/load.py                          # SQLite and PostgreSQL
    .venv/bin/python bench/load.py --backends sqlite --messages 3000 --rate 500,1000
    .venv/bin/python bench/load.py --backends sqlite --json

PostgreSQL is expected at --postgres (trust auth); a scratch database is created for
each server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import math
import os
import platform
import random
import secrets
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import psutil
import yaml
from aiohttp import web

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
SMS_PATH = "/webhooks/sms"
TELEGRAM_PATH = "/webhooks/telegram"
PUBLIC_SMS_URL = "https://load.example.org/webhooks/sms"
PUBLIC_TELEGRAM_URL = "https://load.example.org/webhooks/telegram"
TELEGRAM_TOKEN = "7000000002:AAFakeTokenForChorusLoadBench_0123456789"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
GIVE_UP_SECONDS = 15.0  # Twilio stops waiting for a webhook's answer after 15 s
START_TIMEOUT = 180.0
NAIVE_TABLE = "inbound"
CHORUS = [sys.executable, "-m", "bot"]  # the command line, as an operator runs it


# --- The traffic -----------------------------------------------------------------------


# Ideas are made of words drawn for each person from VADER's lexicon (thousands of words),
# so no two are alike enough for Chorus to offer one as "like" another (which would turn a
# new idea into a vote and change what the run stores).
def _lexicon_words() -> list[str]:
    import vaderSentiment

    path = os.path.join(os.path.dirname(vaderSentiment.__file__), "vader_lexicon.txt")
    with open(path, encoding="utf-8") as lexicon:
        rows = (line.split("\t", 2) for line in lexicon)
        # Kindly words only: no idea may be held back for moderation.
        words = (row[0] for row in rows if float(row[1]) > 0)
        kept = [w for w in words if w.isalpha() and w.islower() and len(w) >= 5]
    from handlers.enrich.moderation import moderation_flag

    return [w for w in kept if moderation_flag(w) is None]


IDEA_WORDS = _lexicon_words()


def an_idea(person: int) -> str:
    draw = random.Random(person)
    words = draw.sample(IDEA_WORDS, 8)
    return " ".join(words).capitalize()


def journey(person: int) -> list[str]:
    """What one person sends, in order: start, consent, three skips, an idea, five votes."""
    return [
        "START",
        "YES",
        "SKIP",
        "SKIP",
        "SKIP",
        an_idea(person),
        "VOTE",
        "1",
        "2",
        "1",
        "2",
        "1",
    ]


def seeding(person: int) -> list[str]:
    """Untimed, before a run: people who share an idea, so votes have something to see."""
    return ["START", "YES", "SKIP", "SKIP", "SKIP", an_idea(person)]


@dataclass(frozen=True)
class Person:
    channel: str  # "sms" or "telegram"
    ident: int  # the phone's digits, or the Telegram user id
    texts: tuple[str, ...]


def people(count: int, tag: int, telegram_share: float, script=journey) -> list[Person]:
    """`count` people, new ones for every run (`tag`), a share of them on Telegram spread
    evenly through the crowd."""
    crowd = []
    for n in range(count):
        on_telegram = math.floor((n + 1) * telegram_share) > math.floor(n * telegram_share)
        channel = "telegram" if on_telegram else "sms"
        ident = tag * 1_000_000 + n  # also draws their idea: no two people send the same
        crowd.append(Person(channel, ident, tuple(script(ident))))
    return crowd


class Requests:
    """Builds each message as its provider sends it: an SMS as Twilio's signed form, a
    Telegram message as a webhook update carrying the secret."""

    def __init__(self, auth_token: str, telegram_secret: str) -> None:
        self.auth_token = auth_token
        self.telegram_secret = telegram_secret
        self.update_ids = itertools.count(secrets.randbelow(10**6) * 1000 + 1)

    def sms_signature(self, fields: Sequence[tuple[str, str]]) -> str:
        data = PUBLIC_SMS_URL + "".join(name + value for name, value in sorted(fields))
        digest = hmac.new(self.auth_token.encode(), data.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()

    def build(self, person: Person, text: str) -> tuple[str, bytes, dict[str, str]]:
        if person.channel == "sms":
            sid = "SM" + secrets.token_hex(16)
            fields = [
                ("AccountSid", "AC" + "0" * 32), ("ApiVersion", "2010-04-01"), ("Body", text),
                ("From", f"+44{person.ident:010d}"), ("MessageSid", sid), ("NumMedia", "0"),
                ("NumSegments", "1"), ("SmsMessageSid", sid), ("SmsSid", sid),
                ("SmsStatus", "received"), ("To", "+447700900000"),
            ]  # fmt: skip
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": self.sms_signature(fields),
            }
            return SMS_PATH, urlencode(fields).encode(), headers
        user = {"id": person.ident, "is_bot": False, "first_name": "Load"}
        update_id = next(self.update_ids)
        update = {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": int(time.time()),
                "from": user,
                "chat": {"id": person.ident, "type": "private", "first_name": "Load"},
                "text": text,
            },
        }
        headers = {"Content-Type": "application/json", SECRET_HEADER: self.telegram_secret}
        return TELEGRAM_PATH, json.dumps(update).encode(), headers


# --- Driving it ------------------------------------------------------------------------


@dataclass
class Run:
    """What one run of traffic against one server saw."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_bytes: int = 0

    @property
    def messages(self) -> int:
        return sum(self.statuses.values())

    @property
    def errors(self) -> int:
        return self.messages - self.statuses.get("200", 0)

    def figures(self) -> dict[str, float | int | dict]:
        cuts = (
            statistics.quantiles(self.latencies, n=100, method="inclusive")
            if len(self.latencies) > 1
            else [self.latencies[0] if self.latencies else 0.0] * 99
        )
        answered = self.statuses.get("200", 0)
        return {
            "messages": self.messages,
            "seconds": round(self.elapsed, 3),
            "msgs_per_s": round(answered / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": round(cuts[49] * 1000, 1),
            "p95_ms": round(cuts[94] * 1000, 1),
            "p99_ms": round(cuts[98] * 1000, 1),
            "cpu_ms_per_msg": round(self.cpu_seconds * 1000 / max(self.messages, 1), 3),
            "peak_rss_mb": round(self.peak_rss_bytes / 2**20, 1),
            "errors": self.errors,
            "statuses": dict(sorted(self.statuses.items())),
        }


async def send(
    http: aiohttp.ClientSession, url: str, request: tuple[str, bytes, dict[str, str]]
) -> str:
    path, body, headers = request
    try:
        async with http.post(url + path, data=body, headers=headers) as response:
            await response.read()
            return str(response.status)
    except TimeoutError:
        return "timeout"
    except aiohttp.ClientError as error:
        return type(error).__name__


def client(limit: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit),
        timeout=aiohttp.ClientTimeout(total=GIVE_UP_SECONDS),
    )


async def closed_loop(
    urls: Sequence[str],
    crowd: Sequence[Person],
    requests: Requests,
    in_flight: int,
    *,
    resend: bool = False,
) -> Run:
    """`in_flight` people at a time, each sending its next message once answered; one
    person's messages alternate between the servers in `urls`. With `resend`, a 503 is
    sent again (the same message, as a provider retries) up to five times."""
    run = Run()
    waiting = list(enumerate(crowd))
    waiting.reverse()

    async def sender(http: aiohttp.ClientSession) -> None:
        while waiting:
            number, person = waiting.pop()
            for step, text in enumerate(person.texts):
                url = urls[(number + step) % len(urls)]
                started = time.perf_counter()
                message = requests.build(person, text)
                status = await send(http, url, message)
                for _ in range(5 if resend else 0):
                    if status != "503":
                        break
                    status = await send(http, url, message)
                run.latencies.append(time.perf_counter() - started)
                run.statuses[status] += 1

    async with client(in_flight) as http:
        started = time.perf_counter()
        await asyncio.gather(*(sender(http) for _ in range(in_flight)))
        run.elapsed = time.perf_counter() - started
    return run


async def open_loop(
    urls: Sequence[str], crowd: Sequence[Person], requests: Requests, rate: float, total: int
) -> Run:
    """`total` messages offered at `rate` a second whatever the answers: message k of
    person p is due at (k * people + p) / rate; a person whose previous message is still
    unanswered sends late, and the latency counts from when it was due. Messages more than
    15 s overdue are not sent and count as errors ("unsent")."""
    run = Run()
    count = len(crowd)

    async def person_sends(http: aiohttp.ClientSession, number: int, person: Person) -> None:
        for step, text in enumerate(person.texts):
            index = step * count + number
            if index >= total:
                return
            due = begin + index / rate
            if time.perf_counter() > due + GIVE_UP_SECONDS:
                # Fallen so far behind that this person would have given up: what is left
                # of the journey counts as unsent, and the run ends in bounded time.
                unsent = sum(
                    1 for k in range(step, len(person.texts)) if k * count + number < total
                )
                run.statuses["unsent"] += unsent
                return
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            status = await send(
                http, urls[(number + step) % len(urls)], requests.build(person, text)
            )
            run.latencies.append(time.perf_counter() - due)
            run.statuses[status] += 1

    async with client(0) as http:
        begin = time.perf_counter() + 0.05
        await asyncio.gather(*(person_sends(http, n, p) for n, p in enumerate(crowd)))
        run.elapsed = time.perf_counter() - begin
    return run


# --- The servers -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(processes: Sequence[psutil.Process]) -> float:
    """User + system CPU of the processes and their children, so far."""
    total = 0.0
    for process in processes:
        with suppress(psutil.Error):
            for member in (process, *process.children(recursive=True)):
                with suppress(psutil.Error):
                    times = member.cpu_times()
                    total += times.user + times.system
    return total


def peak_rss(processes: Sequence[psutil.Process]) -> int:
    """The high-water mark of resident memory (VmHWM), summed over the processes."""
    total = 0
    for process in processes:
        with suppress(OSError, psutil.Error):
            for member in (process, *process.children(recursive=True)):
                status = Path(f"/proc/{member.pid}/status").read_text()
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1]) * 1024
    return total


async def wait_until_serving(url: str, process: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                text = await asyncio.to_thread(log.read_text, errors="replace")
                raise SystemExit(
                    f"the server at {url} exited ({process.returncode}):\n{text[-2000:]}"
                )
            with suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(url + "/healthz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise SystemExit(f"the server at {url} did not answer /healthz in {START_TIMEOUT:.0f} s")


@dataclass
class Servers:
    """Server processes under test and the base URLs they answer on."""

    name: str
    urls: list[str]
    pids: list[int]

    @property
    def processes(self) -> list[psutil.Process]:
        return [psutil.Process(pid) for pid in self.pids]


@asynccontextmanager
async def serving(name: str, commands: list[list[str]], env: dict[str, str], workdir: Path):
    """Start one server process per command (each told its --port), wait for /healthz."""
    started: list[asyncio.subprocess.Process] = []
    urls: list[str] = []
    try:
        for number, command in enumerate(commands):
            port = free_port()
            log = workdir / f"{name}-{number}.log"
            with log.open("w") as out:  # noqa: ASYNC230 - opening a local log file
                process = await asyncio.create_subprocess_exec(
                    *command, "--port", str(port), cwd=workdir, env=env, stdout=out, stderr=out
                )
            started.append(process)
            urls.append(f"http://127.0.0.1:{port}")
            await wait_until_serving(urls[-1], process, log)
        yield Servers(name, urls, [process.pid for process in started])
    finally:
        for process in started:
            with suppress(ProcessLookupError):
                process.terminate()
        for process in started:
            try:
                await asyncio.wait_for(process.wait(), timeout=30)
            except TimeoutError:
                process.kill()
                await process.wait()


async def run_command(command: list[str], env: dict[str, str], workdir: Path) -> str:
    """Run a command to its end; its output, or SystemExit with it if it failed."""
    process = await asyncio.create_subprocess_exec(
        *command, cwd=workdir, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    if process.returncode:
        raise SystemExit(f"{' '.join(command[1:])} failed:\n{output.decode(errors='replace')}")
    return output.decode(errors="replace")


def chorus_config(workdir: Path, fake_telegram: str | None) -> Path:
    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    today = date.today()  # keep the first question open whatever the date
    first = config["questions"][0]
    first["opens"], first["closes"] = today - timedelta(days=30), today + timedelta(days=30)
    config["questions"] = [first]
    config["channels"]["sms"]["public_url"] = PUBLIC_SMS_URL
    if fake_telegram:
        config["channels"]["telegram"] = {
            "mode": "webhook",
            "base_url": fake_telegram,
            "public_url": PUBLIC_TELEGRAM_URL,
        }
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def server_env(
    database_url: str, auth_token: str, telegram_secret: str, telegram: bool
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TWILIO_", "TELEGRAM_", "X_", "CHORUS_"))
    }
    env.update(
        CHORUS_DATABASE_URL=database_url,
        CHORUS_SECRET=secrets.token_hex(24),
        TWILIO_AUTH_TOKEN=auth_token,
        PYTHONPATH=str(REPO),
    )
    if telegram:
        env.update(TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN, TELEGRAM_WEBHOOK_SECRET=telegram_secret)
    return env


class FakeBotApi:
    """Just enough of Telegram's Bot API for Chorus to start in webhook mode and send its
    replies: every method answers ok; sent messages get an id."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.message_ids = itertools.count(1)
        self.runner: web.AppRunner | None = None
        self.base_url = ""

    async def serve(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.calls[method] += 1
        try:
            if request.content_type == "application/json":
                params = await request.json()
            else:
                params = dict(await request.post()) if request.body_exists else {}
        except ConnectionResetError:  # a Chorus process stopped while sending
            return web.Response(status=499)
        if method == "getMe":
            result: object = {"id": 7000000002, "is_bot": True, "first_name": "Chorus",
                              "username": "chorus_load_bot"}  # fmt: skip
        elif method in ("sendMessage", "editMessageText", "editMessageReplyMarkup"):
            chat_id = int(params.get("chat_id") or 1)
            result = {
                "message_id": int(params.get("message_id") or next(self.message_ids)),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "text": str(params.get("text") or ""),
            }
        else:
            result = True
        return web.json_response({"ok": True, "result": result})

    async def __aenter__(self) -> FakeBotApi:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self.serve)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/bot"
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


# --- Stores ----------------------------------------------------------------------------


@asynccontextmanager
async def postgres_database(server: str):
    """A new, empty database on the PostgreSQL server; dropped afterwards."""
    import asyncpg

    name = f"chorus_load_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"{server}/{name}"
    finally:
        admin = await asyncpg.connect(f"{server}/postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {NAIVE_TABLE} (id {{key}}, channel TEXT NOT NULL, "
    "message_id TEXT NOT NULL UNIQUE, sender TEXT NOT NULL, body TEXT NOT NULL, "
    "received_at DOUBLE PRECISION NOT NULL)"
)


def open_sqlite(path: Path) -> sqlite3.Connection:
    """SQLite set up as Chorus sets it up: WAL, synchronous=NORMAL."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA busy_timeout=5000")
    connection.execute(CREATE_TABLE.format(key="INTEGER PRIMARY KEY"))
    return connection


SQLITE_INSERT = (
    f"INSERT INTO {NAIVE_TABLE} (channel, message_id, sender, body, received_at) "
    "VALUES (?, ?, ?, ?, ?)"
)
POSTGRES_INSERT = (
    f"INSERT INTO {NAIVE_TABLE} (channel, message_id, sender, body, received_at) "
    "VALUES ($1, $2, $3, $4, $5)"
)


def hashed(sender: str) -> str:
    """A pseudonym, never the raw phone number."""
    return hashlib.sha256(sender.encode()).hexdigest()[:24]


async def bare_inserts(backend: str, location: str, rows: int, writers: int) -> dict[str, float]:
    """`rows` rows inserted one INSERT + COMMIT at a time, in this process: on SQLite by
    its one writer, on PostgreSQL by `writers` connections at once."""
    values = [("sms", f"SM{n:032x}", hashed(f"+44{n:010d}"), an_idea(n), time.time())
              for n in range(rows)]  # fmt: skip
    cpu_before = time.process_time()
    if backend == "sqlite":
        connection = open_sqlite(Path(location))
        started = time.perf_counter()
        for row in values:
            connection.execute("BEGIN")
            connection.execute(SQLITE_INSERT, row)
            connection.execute("COMMIT")
        elapsed = time.perf_counter() - started
        connection.close()
    else:
        import asyncpg

        # PostgreSQL waits for a flush at each COMMIT and flushes concurrent COMMITs
        # together, so its floor is as many writers as there are messages in flight.
        connections = [await asyncpg.connect(location) for _ in range(writers)]
        await connections[0].execute(CREATE_TABLE.format(key="BIGSERIAL PRIMARY KEY"))

        async def writer(connection, share: list[tuple]) -> None:
            for row in share:
                await connection.execute(POSTGRES_INSERT, *row)  # autocommit: a COMMIT each

        started = time.perf_counter()
        await asyncio.gather(*(writer(c, values[n::writers]) for n, c in enumerate(connections)))
        elapsed = time.perf_counter() - started
        for connection in connections:
            await connection.close()
    cpu = time.process_time() - cpu_before
    return {
        "rows": rows,
        "seconds": round(elapsed, 3),
        "rows_per_s": round(rows / elapsed, 1),
        "cpu_ms_per_row": round(cpu * 1000 / rows, 3),
    }


# --- The naive pipeline (run as `bench/load.py --serve-naive URL --port P`) -------------


def naive_app(store_url: str, auth_token: str, telegram_secret: str) -> web.Application:
    """The pipeline anyone would write first: check the signature, INSERT, COMMIT, 200."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(auth_token)
    app = web.Application()
    state: dict[str, object] = {}

    async def insert(channel: str, message_id: str, sender: str, body: str) -> None:
        row = (channel, message_id, hashed(sender), body, time.time())
        if "sqlite" in state:
            connection = state["sqlite"]
            connection.execute("BEGIN")
            connection.execute(SQLITE_INSERT, row)
            connection.execute("COMMIT")
        else:
            await state["pool"].execute(POSTGRES_INSERT, *row)

    async def sms(request: web.Request) -> web.Response:
        form = await request.post()
        params = {key: str(value) for key, value in form.items()}
        if not validator.validate(
            PUBLIC_SMS_URL, params, request.headers.get("X-Twilio-Signature", "")
        ):
            return web.Response(status=403, text="bad signature")
        await insert("sms", params["MessageSid"], params["From"], params.get("Body", ""))
        return web.Response(text="<Response/>", content_type="application/xml")

    async def telegram(request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, ""), telegram_secret):
            return web.Response(status=403)
        update = await request.json()
        message = update.get("message") or {}
        sender = str((message.get("from") or {}).get("id", ""))
        await insert("telegram", str(update["update_id"]), sender, message.get("text", ""))
        return web.json_response({})

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def open_store(_app: web.Application):
        if store_url.startswith("sqlite:///"):
            state["sqlite"] = open_sqlite(Path(store_url.removeprefix("sqlite:///")))
        else:
            import asyncpg

            pool = await asyncpg.create_pool(store_url, min_size=2, max_size=16)
            await pool.execute(CREATE_TABLE.format(key="BIGSERIAL PRIMARY KEY"))
            state["pool"] = pool
        yield
        if "sqlite" in state:
            state["sqlite"].close()
        else:
            await state["pool"].close()

    app.cleanup_ctx.append(open_store)
    app.router.add_post(SMS_PATH, sms)
    app.router.add_post(TELEGRAM_PATH, telegram)
    app.router.add_get("/healthz", healthz)
    return app


def serve_naive(store_url: str, port: int) -> None:
    app = naive_app(store_url, os.environ["LOAD_AUTH_TOKEN"], os.environ["LOAD_TELEGRAM_SECRET"])
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# --- One backend, every pipeline ---------------------------------------------------------


@dataclass
class Settings:
    messages: int
    in_flight: int
    rates: list[float]
    seconds: float
    telegram_share: float
    postgres: str
    workers: list[int]


async def measure(
    servers: Servers,
    requests: Requests,
    settings: Settings,
    tag: int,
    stored: Callable[[], Awaitable[dict]] | None = None,
) -> tuple[dict, list[dict]]:
    """Seed, then the timed closed loop (with the servers' CPU and memory), then any open
    loops; new people each time. `stored` reads back what the store holds after the closed
    loop, to set beside what the traffic should have left there."""
    per_person = len(journey(0))
    # At least six ideas, so that everyone has five (not their own) to vote on.
    seeders = people(max(settings.in_flight, 6), tag, settings.telegram_share, seeding)
    # Untimed; a message refused while the server warms up is sent again, as Twilio would.
    await closed_loop(servers.urls, seeders, requests, settings.in_flight, resend=True)
    crowd = people(math.ceil(settings.messages / per_person), tag + 1, settings.telegram_share)
    processes = servers.processes
    cpu_before = cpu_seconds(processes)
    run = await closed_loop(servers.urls, crowd, requests, settings.in_flight)
    run.cpu_seconds = cpu_seconds(processes) - cpu_before
    run.peak_rss_bytes = peak_rss(processes)
    figures = run.figures()
    if stored is not None:
        votes = sum(text in ("1", "2") for person in crowd for text in person.texts)
        expected = {"participants": len(seeders) + len(crowd), "ideas": len(seeders) + len(crowd)}
        figures["stored"] = await stored()
        figures["expected"] = {**expected, "votes": votes}
    open_runs = []
    for number, rate in enumerate(settings.rates):
        total = max(1, int(rate * settings.seconds))
        crowd = people(math.ceil(total / per_person), tag + 2 + number, settings.telegram_share)
        cpu_before = cpu_seconds(processes)
        offered = await open_loop(servers.urls, crowd, requests, rate, total)
        offered.cpu_seconds = cpu_seconds(processes) - cpu_before
        offered.peak_rss_bytes = peak_rss(processes)
        open_runs.append({"offered_per_s": rate, **offered.figures()})
    return figures, open_runs


async def one_backend(backend: str, settings: Settings, workdir: Path, say) -> dict:
    auth_token, telegram_secret = secrets.token_hex(16), secrets.token_hex(16)
    requests = Requests(auth_token, telegram_secret)
    telegram = settings.telegram_share > 0
    per_person = len(journey(0))
    rows = math.ceil(settings.messages / per_person) * per_person
    tags = itertools.count(secrets.randbelow(900) * 10 + 1000, 10)
    detail: dict = {}
    async with AsyncExitStack() as stack:

        async def store(label: str) -> tuple[str, str]:
            """A fresh store: (its URL for Chorus, for the bare and naive pipelines)."""
            if backend == "sqlite":
                path = workdir / f"{label}.db"
                return f"sqlite+aiosqlite:///{path}", f"sqlite:///{path}"
            url = await stack.enter_async_context(postgres_database(settings.postgres))
            return url.replace("postgresql://", "postgresql+asyncpg://", 1), url

        _, plain = await store("bare")
        bare_location = plain.removeprefix("sqlite:///") if backend == "sqlite" else plain
        detail["bare"] = await bare_inserts(backend, bare_location, rows, settings.in_flight)
        say(f"{backend} bare inserts: {detail['bare']['rows_per_s']:.0f} rows/s")

        _, plain = await store("naive")
        env = {**os.environ, "LOAD_AUTH_TOKEN": auth_token, "LOAD_TELEGRAM_SECRET": telegram_secret}
        command = [sys.executable, str(HERE), "--serve-naive", plain]
        async with serving("naive", [command], env, workdir) as servers:
            detail["naive"], detail["naive_open_loop"] = await measure(
                servers, requests, settings, next(tags)
            )
        say(f"{backend} naive pipeline: {detail['naive']['msgs_per_s']:.0f} messages/s")

        fake = await stack.enter_async_context(FakeBotApi()) if telegram else None
        detail["chorus"] = {}
        detail["chorus_open_loop"] = {}
        for workers in settings.workers if backend == "postgresql" else [1]:
            database_url, _ = await store(f"chorus-{workers}")
            config = chorus_config(workdir, fake.base_url if fake else None)
            env = server_env(database_url, auth_token, telegram_secret, telegram)

            if backend == "postgresql":
                await run_command([*CHORUS, "db", "upgrade", "--config", str(config)], env, workdir)
            serve = [*CHORUS, "run", "--config", str(config)]

            async def summary_of_store(env: dict[str, str] = env, config: Path = config) -> dict:
                command = [*CHORUS, "summary", "--json", "--config", str(config)]
                held = json.loads(await run_command(command, env, workdir))
                return {key: held.get(key) for key in ("participants", "ideas", "votes")}

            async with serving(f"chorus-{workers}", [serve] * workers, env, workdir) as servers:
                figures, open_runs = await measure(
                    servers, requests, settings, next(tags), summary_of_store
                )
            detail["chorus"][str(workers)] = figures
            detail["chorus_open_loop"][str(workers)] = open_runs
            say(
                f"{backend} chorus x{workers}: {figures['msgs_per_s']:.0f} messages/s, "
                f"{figures['errors']} errors"
            )
    one = detail["chorus"]["1"]
    detail["ratio_to_naive"] = round(
        one["msgs_per_s"] / max(detail["naive"]["msgs_per_s"], 1e-9), 3
    )
    detail["ratio_to_bare"] = round(one["msgs_per_s"] / max(detail["bare"]["rows_per_s"], 1e-9), 3)
    if "2" in detail["chorus"]:
        detail["two_workers_to_one"] = round(
            detail["chorus"]["2"]["msgs_per_s"] / max(one["msgs_per_s"], 1e-9), 3
        )
    return detail


def summary(backends: dict[str, dict], settings: Settings) -> dict:
    first = next(iter(backends.values()))
    one = first["chorus"]["1"]
    return {
        "chorus_msgs_per_s": one["msgs_per_s"],
        "naive_msgs_per_s": first["naive"]["msgs_per_s"],
        "bare_rows_per_s": first["bare"]["rows_per_s"],
        "ratio_to_naive": first["ratio_to_naive"],
        "ratio_to_bare": first["ratio_to_bare"],
        "p50_ms": one["p50_ms"],
        "p95_ms": one["p95_ms"],
        "p99_ms": one["p99_ms"],
        "cpu_ms_per_msg": one["cpu_ms_per_msg"],
        "peak_rss_mb": one["peak_rss_mb"],
        "errors": one["errors"],
        "backend": next(iter(backends)),
        "backends": backends,
        "settings": {
            "messages": settings.messages,
            "in_flight": settings.in_flight,
            "rates": settings.rates,
            "seconds": settings.seconds,
            "telegram_share": settings.telegram_share,
            "journey": len(journey(0)),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
    }


def print_report(result: dict) -> None:
    settings = result["settings"]
    machine = result["machine"]
    print(
        f"load: {settings['messages']} messages (journeys of {settings['journey']}, "
        f"{settings['telegram_share']:.0%} on Telegram), {settings['in_flight']} in flight; "
        f"{machine['cpus']} CPUs, Python {machine['python']}"
    )
    header = (
        f"{'pipeline':<26}{'msgs/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'CPU ms/msg':>12}{'peak RSS MB':>13}{'errors':>8}"
    )

    def row(label: str, f: dict) -> str:
        return (
            f"{label:<26}{f['msgs_per_s']:>9.1f}{f['p50_ms']:>9.1f}{f['p95_ms']:>9.1f}"
            f"{f['p99_ms']:>9.1f}{f['cpu_ms_per_msg']:>12.3f}{f['peak_rss_mb']:>13.1f}"
            f"{f['errors']:>8}"
        )

    for backend, detail in result["backends"].items():
        bare = detail["bare"]
        print(f"\n[{backend}]")
        print(
            f"bare inserts (a COMMIT each): {bare['rows_per_s']:.0f} rows/s, "
            f"{bare['cpu_ms_per_row']:.3f} CPU ms/row"
        )
        print(header)
        print(row("naive (aiohttp + INSERT)", detail["naive"]))
        for workers, figures in detail["chorus"].items():
            print(row(f"chorus x{workers}", figures))
        ratios = (
            f"chorus/naive {detail['ratio_to_naive']:.3f}, "
            f"chorus/bare {detail['ratio_to_bare']:.3f}"
        )
        if "two_workers_to_one" in detail:
            ratios += f", two workers/one {detail['two_workers_to_one']:.3f}"
        print(ratios)
        opened = [("naive", r) for r in detail["naive_open_loop"]] + [
            (f"chorus x{w}", r) for w, runs in detail["chorus_open_loop"].items() for r in runs
        ]
        if opened:
            print("open loop (latency from when each message was due):")
            for label, r in opened:
                print(
                    f"  {label:<10} offered {r['offered_per_s']:>6.0f}/s: answered "
                    f"{r['msgs_per_s']:>7.1f}/s, p50 {r['p50_ms']:.1f} ms, "
                    f"p99 {r['p99_ms']:.1f} ms, errors {r['errors']} {r['statuses']}"
                )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql", help="default: %(default)s")
    parser.add_argument("--messages", type=int, default=1200, help="timed messages per server")
    parser.add_argument("--in-flight", type=int, default=16, help="people sending at once")
    parser.add_argument("--rate", default="", help="open-loop offered rates, e.g. 500,1000")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each open loop")
    parser.add_argument("--telegram-share", type=float, default=0.25, help="of the people")
    parser.add_argument("--workers", default="1,2", help="Chorus workers on PostgreSQL")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--serve-naive", metavar="STORE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_naive:
        serve_naive(args.serve_naive, args.port)
        return
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not backends or set(backends) - {"sqlite", "postgresql"}:
        parser.error("--backends takes sqlite and/or postgresql")
    if not 0 <= args.telegram_share <= 1 or args.messages < 1 or args.in_flight < 1:
        parser.error("--telegram-share is 0 to 1; --messages and --in-flight at least 1")
    workers = sorted({int(w) for w in args.workers.split(",")})
    if 1 not in workers:
        workers.insert(0, 1)
    settings = Settings(
        messages=args.messages,
        in_flight=args.in_flight,
        rates=[float(r) for r in args.rate.split(",") if r.strip()],
        seconds=args.seconds,
        telegram_share=args.telegram_share,
        postgres=args.postgres.rstrip("/"),
        workers=workers,
    )

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    async def everything() -> dict:
        results = {}
        with tempfile.TemporaryDirectory(prefix="chorus-load-") as tmp:
            for backend in backends:
                results[backend] = await one_backend(backend, settings, Path(tmp), say)
        return summary(results, settings)

    result = asyncio.run(everything())
    if args.json:
        print(json.dumps(result))
    else:
        print_report(result)


if __name__ == "__main__":
    main()
