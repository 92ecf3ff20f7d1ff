"""The load benchmark's servers (bench/load.py): start the processes under test and wait
until they answer, their CPU time and peak memory, Chorus's config and environment, a
scratch PostgreSQL database for each, and a fake Telegram Bot API for their replies."""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import socket
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import aiohttp
import psutil
import yaml
from aiohttp import web
from load_traffic import PUBLIC_SMS_URL, PUBLIC_TELEGRAM_URL

REPO = Path(__file__).resolve().parents[1]
TELEGRAM_TOKEN = "7000000002:AAFakeTokenForChorusLoadBench_0123456789"
START_TIMEOUT = 180.0


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
            with suppress(aiohttp.ClientError, TimeoutError, ValueError):
                async with http.get(url + "/healthz") as response:
                    # Timed from the steady state: what is still warming (models, alike
                    # indexes) would charge its start-up CPU to the first messages.
                    # bench/startup.py measures the start.
                    if response.status == 200 and not await _still_warming(response):
                        return
            await asyncio.sleep(0.1)
    raise SystemExit(f"the server at {url} did not answer /healthz in {START_TIMEOUT:.0f} s")


async def _still_warming(response: aiohttp.ClientResponse) -> bool:
    if response.content_type != "application/json":
        return False  # the baselines' plain answer
    return bool((await response.json()).get("warming"))


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


# Calls Chorus makes as it starts, not replies.
SETUP_METHODS = frozenset(
    {"getMe", "setMyCommands", "setWebhook", "deleteWebhook", "getWebhookInfo"}
)


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

    @property
    def replies(self) -> int:
        """Calls that carry a reply (messages sent or edited, presses answered) so far."""
        return sum(n for method, n in self.calls.items() if method not in SETUP_METHODS)

    async def sent_all(self, quiet: float = 1.0, longest: float = 120.0) -> float:
        """Wait until Chorus has sent every reply it owes: no call for `quiet` seconds
        (Telegram's 30 messages a second, which python-telegram-bot's rate limiter keeps
        to, defers a burst's replies past the traffic that caused them). The seconds
        waited."""
        started = time.monotonic()
        seen, last_change = self.replies, started
        while time.monotonic() - last_change < quiet and time.monotonic() - started < longest:
            await asyncio.sleep(0.1)
            if self.replies != seen:
                seen, last_change = self.replies, time.monotonic()
        return time.monotonic() - started

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
