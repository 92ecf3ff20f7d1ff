"""The X channel inside Chorus: enabled by X_BEARER_TOKEN alone, a refused token stops
the listener (one clear log line, no token in the logs) while Chorus keeps serving,
`chorus summary` counts X contributions next to the other channels, and the lease that
keeps one listener per PostgreSQL store."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from bot.channels import CHANNEL_MODULES, check_sections, declarations, media
from bot.channels.twitter import DECLARATION, TwitterChannel, create
from bot.channels.x_settings import TwitterSettings
from bot.config import ConfigError, Environment, Settings, load_settings, parse_settings
from bot.services import open_services
from handlers.insights.context import Reporting
from handlers.insights.scope import ReportScope
from handlers.insights.summary import build_summary, format_summary
from handlers.types import PublicPost
from storage.database import Store
from storage.leases import lease
from tests.conftest import TEST_SECRET, config_dict, make_settings, with_environ, write_config
from tests.fakes.x_api import FakeX
from tests.people import Person
from tests.running_chorus import chorus_server
from tests.test_cli import chorus

TOKEN = "chorus-test-x-token-not-a-secret"


async def test_the_listener_is_registered_and_off_without_a_token(
    database_url: str, caplog
) -> None:
    assert "bot.channels.twitter" in CHANNEL_MODULES
    caplog.set_level(logging.INFO, logger="bot.channels.twitter")
    services = await open_services(make_settings(database_url), channel_media=media())
    try:
        async with aiohttp.ClientSession() as http:
            assert create(services, http) is None
            services.settings = with_environ(services.settings, X_BEARER_TOKEN=TOKEN)
            channel = create(services, http)
    finally:
        await services.close()
    [line] = [r.getMessage() for r in caplog.records if r.name == "bot.channels.twitter"]
    assert "X_BEARER_TOKEN" in line and "#AHPsIntoAction" in line
    assert isinstance(channel, TwitterChannel) and TOKEN not in repr(channel)


@pytest.mark.parametrize(
    "twitter,problem",
    [
        ({"question": "nope"}, "channels.twitter.question: no question has the key 'nope'"),
        ({"api_base": "api.twitter.com"}, "channels.twitter.api_base: Value error, "),
        ({"mode": "firehose"}, "channels.twitter.mode: Input should be 'auto', 'stream'"),
        ({"poll_seconds": 0}, "channels.twitter.poll_seconds: Input should be greater than 0"),
    ],
)
def test_the_twitter_settings_are_checked(twitter: dict, problem: str) -> None:
    """By the channel's own model (x_settings.py), given the consultation's questions,
    when Chorus starts, whether the listener is on or off."""
    file = parse_settings(config_dict(channels={"twitter": twitter}), Path("config.yaml"))
    settings = Settings(file, Environment.from_environ({}), Path("config.yaml"))
    with pytest.raises(ConfigError) as raised:
        check_sections(settings, declarations())
    assert str(raised.value).startswith(f"config.yaml: {problem.replace('Value error, ', '')}")
    assert "\n" not in str(raised.value)


def test_a_question_that_does_not_exist_stops_chorus_run_with_one_line(tmp_path: Path) -> None:
    write_config(tmp_path / "config.yaml", channels={"twitter": {"question": "nope"}})
    result = chorus(["run", "--port", "0"], tmp_path, f"sqlite+aiosqlite:///{tmp_path}/x.db")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "chorus: configuration error: config.yaml: channels.twitter.question: "
        "no question has the key 'nope'"
    ]
    assert not (tmp_path / "x.db").exists()  # checked before the store is opened
    report = chorus(["summary"], tmp_path, f"sqlite+aiosqlite:///{tmp_path}/x.db")
    assert report.returncode == 2  # and by every command that reads the file
    assert "channels.twitter.question: no question has the key 'nope'" in report.stderr


def test_the_default_twitter_settings() -> None:
    settings = make_settings("sqlite+aiosqlite://")
    x: TwitterSettings = DECLARATION.settings_from(settings)
    assert (x.mode, x.poll_seconds, x.question) == ("auto", 60, "ahp-action")
    secrets = DECLARATION.secrets_from(with_environ(settings, X_BEARER_TOKEN=TOKEN))
    assert secrets.bearer_token.get_secret_value() == TOKEN and TOKEN not in repr(secrets)


async def test_a_refused_token_stops_the_listener_and_chorus_keeps_serving(
    database_url: str, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeX("the-token-X-knows")
    await fake.start()
    settings = make_settings(database_url, channels={"twitter": {"api_base": fake.url}})
    settings = with_environ(settings, X_BEARER_TOKEN=TOKEN)
    runtime = chorus_server(settings)
    await runtime.start()
    try:
        [channel] = [c for c in runtime.channels if c.name == "x"]
        async with asyncio.timeout(15):
            await channel.listener.wait_until(lambda listener: listener.state == "stopped")
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{runtime.port}/healthz") as response,
        ):
            body = await response.json()
    finally:
        await runtime.stop()
        await fake.close()
    assert response.status == 200 and body["status"] == "ok"
    x = body["channels"]["x"]
    assert x["running"] is False and x["state"] == "stopped"
    assert "401" in x["reason"] and "X_BEARER_TOKEN" in x["reason"]
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in errors] == [f"X listener stopped: {x['reason']}"]
    assert TOKEN not in caplog.text and TOKEN not in json.dumps(body)


async def test_chorus_summary_counts_x_next_to_other_channels(
    tmp_path: Path, database_url: str
) -> None:
    write_config(tmp_path / "config.yaml")
    settings = load_settings(
        tmp_path / "config.yaml",
        {"CHORUS_DATABASE_URL": database_url, "CHORUS_SECRET": TEST_SECRET},
    )
    services = await open_services(settings, channel_media=media())
    try:
        amira = Person(services.engine, "amira", "console")
        await amira.join()
        await amira.say("/idea Physios in every GP surgery")
        now = datetime.now(UTC)
        await services.engine.ingest_public(
            [
                PublicPost(
                    "x",
                    "101",
                    "501",
                    "Dietitians in schools #AHPsIntoAction",
                    now,
                    metrics={"likes": 7, "reposts": 2},
                ),
                PublicPost("x", "102", "502", "@a agreed #AHPsIntoAction", now, reply_to_id="101"),
                PublicPost("x", "103", "503", "RT @a: Dietitians...", now, reposted_id="101"),
            ]
        )
        text = format_summary(await build_summary(Reporting.of(services.deps), ReportScope()))
    finally:
        await services.close()
    result = chorus(["summary", "--json"], tmp_path, database_url)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["by_channel"] == {"x": 2, "console": 1}
    assert summary["participants"] == 4 and summary["votes"] == 1
    assert summary["reach"]["x"] == {
        "posts": 2,
        "likes": 7,
        "reposts": 2,
        "replies": 0,
        "quotes": 0,
    }
    assert "x 2 (67%)" in text and "Reach on X: 2 posts, 7 likes, 2 reposts" in text


async def test_a_lease_has_one_holder_on_postgres_and_is_always_granted_on_sqlite(
    store: Store,
) -> None:
    async with lease(store, "job") as first, lease(store, "job") as second:
        assert first.held and await first.check()
        assert second.held is (store.backend == "sqlite")
    async with lease(store, "job") as again:
        assert again.held  # released when its holder left
