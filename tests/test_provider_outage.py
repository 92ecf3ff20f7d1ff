"""A provider that fails (Telegram's API answering 502 with an HTML page, as a proxy in
front of it does) while `chorus run` polls it: one WARNING line for the outage and no
traceback, /healthz shows the channel waiting with the reason, one line when it is back,
and SIGTERM stops Chorus within 5 s whatever the channel is doing."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from bot.outages import Outage, describe
from tests.conftest import REPO, TEST_SECRET, write_config
from tests.fakes.telegram_bot_api import FakeBotAPI
from tests.telegram_harness import TOKEN

HTML_502 = (
    "Bad Gateway (502). Parsing the server response b'<html><body><h1>502 Bad Gateway"
    "</h1></body></html>' failed"
)


def test_the_reason_is_one_short_line_without_the_page() -> None:
    assert describe(HTML_502) == "Bad Gateway (502), and the answer was not JSON"
    assert describe("Invalid server response") == "the answer was not JSON"
    assert describe("Timed out\nmore detail") == "Timed out"
    assert len(describe("x" * 1000)) == 160
    assert describe(TimeoutError()) == "TimeoutError"


def test_an_outage_is_one_warning_then_quiet_then_one_line_when_back(caplog) -> None:
    import logging

    caplog.set_level(logging.DEBUG, logger="chorus.test")
    outage = Outage(logging.getLogger("chorus.test"), "Telegram polling")
    for _ in range(5):
        outage.failed(HTML_502)
    assert outage.waiting == "Bad Gateway (502), and the answer was not JSON"
    outage.recovered()
    outage.recovered()
    levels = [record.levelname for record in caplog.records]
    assert levels == ["WARNING", "DEBUG", "DEBUG", "DEBUG", "DEBUG", "INFO"]
    assert outage.waiting is None and not any(r.exc_info for r in caplog.records)


async def _line(stream: asyncio.StreamReader, pattern: str, log: list[str]) -> re.Match:
    while line := (await stream.readline()).decode():
        log.append(line)
        if match := re.search(pattern, line):
            return match
    raise AssertionError("".join(log))


@pytest.mark.slow
async def test_telegram_failing_with_html_while_chorus_runs(tmp_path: Path) -> None:
    async with FakeBotAPI(TOKEN) as api:
        write_config(
            tmp_path / "config.yaml",
            channels={"telegram": {"mode": "polling", "base_url": api.base_url}},
        )
        environment = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "CHORUS_SECRET": TEST_SECRET,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "CHORUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'chorus.db'}",
        }
        api.fail("getUpdates", 502, "Bad Gateway", times=10_000, html=True)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", "--port", "0",
            cwd=tmp_path, env=environment, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        log: list[str] = []
        try:
            port = (await _line(process.stderr, r"serving on http://127\.0\.0\.1:(\d+)", log))[1]
            await _line(process.stderr, r"Telegram polling failed", log)
            await api.wait_for_calls("getUpdates", 3, within=30)
            url = f"http://127.0.0.1:{port}/healthz"
            async with aiohttp.ClientSession() as http, http.get(url) as response:
                telegram = (await response.json())["channels"]["telegram"]
            assert telegram["waiting"] == "Bad Gateway (502), and the answer was not JSON"
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            rest = (await asyncio.wait_for(process.stderr.read(), 30)).decode()
            code = await process.wait()
            took = time.monotonic() - started
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    everything = "".join(log) + rest
    assert code == 0, everything
    assert took < 5, f"SIGTERM took {took:.1f} s:\n{rest}"
    assert "Traceback" not in everything, everything
    assert everything.count("WARNING") == 1, everything
    assert "<html>" not in everything
