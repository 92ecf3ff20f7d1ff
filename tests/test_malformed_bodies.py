"""Every POST route of a Chorus with every webhook channel on answers a malformed body
with 400 and a short reason, never a 5xx: non-UTF-8 urlencoded and multipart bodies, a
broken multipart body, a declared charset other than UTF-8 and the wrong content type.
The routes are read from the running server, so a route added later is covered too."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import make_settings, with_environ
from tests.fakes.telegram_bot_api import FakeBotAPI
from tests.running_chorus import chorus_server
from tests.telegram_harness import PUBLIC_URL, SECRET_HEADER, TOKEN, WEBHOOK_SECRET
from tests.twilio_fakes import ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER, SMS_URL

BOUNDARY = "chorusBoundary7MA4YWxk"


def multipart(*parts: tuple[str, bytes], close: bool = True) -> bytes:
    body = b""
    for name, value in parts:
        body += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value
            + b"\r\n"
        )
    return body + (f"--{BOUNDARY}--\r\n".encode() if close else b"")


MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
URLENCODED = "application/x-www-form-urlencoded"

MALFORMED: list[tuple[str, str, bytes]] = [
    ("urlencoded, raw non-UTF-8 bytes", URLENCODED, b"form_id=abc&text=caf\xe9\xff"),
    ("urlencoded, percent-encoded non-UTF-8", URLENCODED, b"form_id=abc&text=%FF%FEcaf%E9"),
    ("urlencoded, declared latin-1", f"{URLENCODED}; charset=iso-8859-1", b"text=caf%E9"),
    ("multipart, non-UTF-8 value", MULTIPART, multipart(("text", b"caf\xe9\xff\xfe"))),
    ("multipart, never closed", MULTIPART, multipart(("text", b"hello"), close=False)),
    ("multipart, garbage", MULTIPART, b"--nonsense\r\n\x00\x01\x02 not a part"),
    ("multipart, no boundary", "multipart/form-data", multipart(("text", b"hello"))),
    ("multipart, headers cut short", MULTIPART, f"--{BOUNDARY}\r\nContent-Disp".encode()),
    ("plain text", "text/plain", b"text=hello"),
    ("broken JSON", "application/json", b'{"text": "hel'),
    ("JSON, non-UTF-8", "application/json", b'{"text": "\xff\xfe"}'),
    ("XML", "application/xml", b"<Response><Message>hi</Message></Response>"),
    ("no content type", "", b"\xff\xfe\x00"),
]


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "chorus.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


def every_channel(database_url: str, bot_api: str):
    settings = make_settings(
        database_url,
        channels={
            "sms": {"public_url": SMS_URL, "from_number": OUR_NUMBER},
            "voice": {"public_url": SMS_URL.replace("sms", "voice")},
            "telegram": {"mode": "webhook", "base_url": bot_api, "public_url": PUBLIC_URL},
        },
    )
    return with_environ(
        settings,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )


# What lets a request past each route's authentication, so the body itself is judged.
CREDENTIALS = {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl", SECRET_HEADER: WEBHOOK_SECRET}


async def test_every_post_route_answers_a_malformed_body_with_400(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeBotAPI(TOKEN) as api:
        runtime = chorus_server(every_channel(sqlite_url, api.base_url))
        await runtime.start()
        try:
            routes = sorted(
                {
                    route.resource.canonical
                    for route in runtime._runner.app.router.routes()
                    if route.method == "POST"
                }
            )
            assert {"/take-part", "/webhooks/sms", "/webhooks/voice"} <= set(routes), routes
            assert any("telegram" in route for route in routes), routes
            base = f"http://127.0.0.1:{runtime.port}"
            answers = {}
            async with aiohttp.ClientSession() as http:
                for route in routes:
                    for label, content_type, body in MALFORMED:
                        headers = dict(CREDENTIALS)
                        if content_type:
                            headers["Content-Type"] = content_type
                        async with http.post(
                            base + route,
                            data=body,
                            headers=headers,
                            skip_auto_headers=["Content-Type"],
                        ) as response:
                            text = await response.text()
                            answers[route, label] = (response.status, text)
        finally:
            await runtime.stop()
    wrong = {key: answer for key, answer in answers.items() if answer[0] != 400}
    assert not wrong, wrong
    for (route, label), (_status, text) in answers.items():
        assert 0 < len(text.strip()) < 200 and "Traceback" not in text, (route, label, text)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage() for r in errors]
