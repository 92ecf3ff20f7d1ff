"""The web form against forgery: a server-issued token bound to the session (keyed MAC),
expiring and used once; cross-site posts refused by Origin or Referer; and a TLS proxy
trusted through server.trusted_proxies (Secure cookie, the client's address in logs)."""

from __future__ import annotations

import logging
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.form_tokens import FormTokens, same_origin
from bot.networks import parse_networks
from bot.proxies import TrustedProxies
from bot.runtime import Runtime
from storage.models import Participant
from tests.conftest import make_settings
from tests.running_chorus import chorus_server

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_a_token_is_good_only_for_its_session_and_until_it_expires() -> None:
    tokens = FormTokens(b"k" * 32, lifetime=timedelta(hours=1))
    token = tokens.issue("session-a", NOW)
    form_id = tokens.verify(token, "session-a", NOW + timedelta(minutes=59))
    assert form_id and token.startswith(form_id)
    assert tokens.verify(token, "session-b", NOW) is None
    assert tokens.verify(token, "session-a", NOW + timedelta(minutes=61)) is None
    assert FormTokens(b"x" * 32).verify(token, "session-a", NOW) is None  # another key
    forged_expiry = token.replace(token.split(".")[1], str(int(NOW.timestamp()) + 10**7))
    assert tokens.verify(forged_expiry, "session-a", NOW) is None
    assert tokens.verify("A" * 22, "session-a", NOW) is None
    assert tokens.issue("session-a", NOW) != token  # a fresh form id each time


def test_origin_and_referer_must_name_this_site() -> None:
    assert same_origin("https://chorus.example", None, "https", "chorus.example")
    assert same_origin("HTTPS://Chorus.Example", None, "https", "chorus.example")
    assert not same_origin("https://evil.example", None, "https", "chorus.example")
    assert not same_origin("http://chorus.example", None, "https", "chorus.example")
    assert not same_origin("null", None, "https", "chorus.example")
    assert same_origin(None, "https://chorus.example/take-part", "https", "chorus.example")
    assert not same_origin(None, "https://evil.example/x", "https", "chorus.example")
    assert same_origin(None, None, "https", "chorus.example")  # not a browser: token decides


def test_the_client_address_is_the_right_most_hop_not_a_trusted_proxy() -> None:
    proxies = TrustedProxies(parse_networks(["10.0.0.0/8", "::1"]))
    assert proxies.client_address("10.0.0.2", "203.0.113.9, 10.0.0.7") == "203.0.113.9"
    assert proxies.client_address("10.0.0.2", "198.51.100.1, 203.0.113.9") == "203.0.113.9"
    assert proxies.client_address("192.0.2.1", "203.0.113.9") == "192.0.2.1"  # not trusted
    assert proxies.client_address("10.0.0.2", "nonsense") == "10.0.0.2"
    assert proxies.client_address("::1", "[2001:db8::5]:4711") == "2001:db8::5"
    with pytest.raises(ValueError, match="not-an-ip"):
        parse_networks(["not-an-ip"])


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "chorus.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


def token_of(page: str) -> str:
    return re.search(r'name="form_id" value="([^"]+)"', page).group(1)


async def participants(runtime: Runtime) -> int:
    async with runtime.services.store.reader() as unit:
        return await unit.session.scalar(select(func.count()).select_from(Participant))


async def post(http, url, data, **headers) -> tuple[int, str]:
    async with http.post(url, data=data, headers=headers) as response:
        return response.status, await response.text()


async def test_forged_and_cross_site_posts_are_refused(sqlite_url: str) -> None:
    runtime = chorus_server(make_settings(sqlite_url))
    await runtime.start()
    url = f"http://127.0.0.1:{runtime.port}/take-part"
    here = f"http://127.0.0.1:{runtime.port}"
    try:
        jar = aiohttp.CookieJar(unsafe=True)
        async with (
            aiohttp.ClientSession(cookie_jar=jar) as alice,
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as mallory,
        ):
            async with alice.get(url) as response:
                token = token_of(await response.text())
            assert any(cookie.key == "chorus_session" for cookie in jar)
            async with mallory.get(url) as response:
                await response.read()
            # Alice's token in another session, a made-up token, and no cookie at all.
            assert (await post(mallory, url, {"form_id": token, "text": "start"}))[0] == 400
            assert (await post(alice, url, {"form_id": "A" * 30, "text": "start"}))[0] == 400
            async with aiohttp.ClientSession() as stranger:
                status, _ = await post(stranger, url, {"form_id": token, "text": "start"})
                assert status == 400
            # A page elsewhere posting with Alice's cookie and a good token.
            for headers in (
                {"Origin": "https://evil.example"},
                {"Origin": "null"},
                {"Referer": "https://evil.example/page"},
            ):
                status, text = await post(
                    alice, url, {"form_id": token, "text": "start"}, **headers
                )
                assert status == 403 and "other sites" in text
            assert await participants(runtime) == 0
            status, page = await post(alice, url, {"form_id": token, "text": "start"}, Origin=here)
            assert status == 200 and "Yes" in page
            assert await participants(runtime) == 0  # nothing before consent
            yes = token_of(page)
            status, first = await post(alice, url, {"form_id": yes, "text": "yes"}, Origin=here)
            # Used once: the same token again is the same message, applied once and
            # answered with the same replies.
            status, again = await post(alice, url, {"form_id": yes, "text": "yes"}, Origin=here)
            assert status == 200 and first.split("<form")[0] == again.split("<form")[0]
            assert await participants(runtime) == 1
    finally:
        await runtime.stop()


async def test_a_trusted_proxy_makes_the_cookie_secure_and_names_the_client(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    forwarded = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Host": "chorus.example",
    }
    for trusted, secure in (([], False), (["127.0.0.0/8"], True)):
        settings = make_settings(sqlite_url, server={"trusted_proxies": trusted})
        runtime = chorus_server(settings)
        await runtime.start()
        url = f"http://127.0.0.1:{runtime.port}/take-part"
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(url, headers=forwarded) as response:
                    cookie = response.headers["Set-Cookie"]
                assert ("Secure" in cookie) is secure, cookie
                caplog.clear()
                with caplog.at_level(logging.WARNING, logger="bot.channels.web"):
                    status, _ = await post(
                        http, url, {"form_id": "x"}, Origin="https://evil.example", **forwarded
                    )
                assert status == 403
                logged = " ".join(record.getMessage() for record in caplog.records)
                assert ("203.0.113.9" in logged) is secure, logged
                if secure:  # the page as the proxy's clients see it: same origin passes
                    status, _ = await post(
                        http, url, {"form_id": "x"}, Origin="https://chorus.example", **forwarded
                    )
                    assert status == 400  # past the Origin check, stopped by the token
        finally:
            await runtime.stop()
