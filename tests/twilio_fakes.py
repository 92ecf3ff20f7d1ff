"""Twilio as the SMS and voice tests meet it, over real HTTP: requests signed the way
Twilio documents it, a phone that texts Chorus, a caller that follows the phone menu's
TwiML, a fake REST Messages API on a random port, a running Chorus with Twilio
configured, and a look through every table for phone numbers.

The signature is computed here from Twilio's description (the full URL, then every POST
field's name and value sorted by name, HMAC-SHA1 keyed with the auth token, base64), not
with the twilio library's validator, so a mistake in how Chorus uses the validator shows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

import aiohttp
from aiohttp import web

from bot.runtime import Runtime
from storage.database import Store
from storage.models import Base
from tests.conftest import make_settings, with_environ
from tests.fakes import html_error
from tests.running_chorus import chorus_server

AUTH_TOKEN = "test-twilio-auth-token-0123456789"
ACCOUNT_SID = "AC" + "0" * 32
OUR_NUMBER = "+447700900000"
SMS_URL = "https://chorus.example.org/webhooks/sms"  # what Twilio is told; behind a proxy
VOICE_URL = "https://chorus.example.org/webhooks/voice"

_sids = itertools.count(1)


def new_sid(prefix: str) -> str:
    return f"{prefix}{next(_sids):032x}"


def twilio_signature(auth_token: str, url: str, fields: Sequence[tuple[str, str]]) -> str:
    data = url + "".join(name + value for name, value in sorted(fields))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def twilio_settings(database_url: str, *, api_base: str | None = None, **sms: object):
    """Settings for a Chorus with SMS and voice on, as a deployment behind a proxy has."""
    sms_settings = {"public_url": SMS_URL, "from_number": OUR_NUMBER, **sms}
    if api_base:
        sms_settings["api_base"] = api_base
    settings = make_settings(
        database_url,
        channels={"sms": sms_settings, "voice": {"public_url": VOICE_URL}},
    )
    return with_environ(settings, TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_ACCOUNT_SID=ACCOUNT_SID)


@asynccontextmanager
async def running_chorus(settings) -> AsyncIterator[Runtime]:
    runtime = chorus_server(settings)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


@dataclass
class Answer:
    status: int
    body: str

    @property
    def messages(self) -> list[str]:
        """The <Message> texts of a TwiML answer."""
        return [m.text or "" for m in ET.fromstring(self.body).iter("Message")]


async def post_signed(
    http: aiohttp.ClientSession,
    local_url: str,
    signed_url: str,
    fields: Sequence[tuple[str, str]],
    *,
    token: str = AUTH_TOKEN,
    signature: str | None = None,
) -> Answer:
    """POST a form as Twilio would: to `local_url`, signed for `signed_url` (the public
    URL Twilio was given). `signature` overrides the computed one ("" sends none)."""
    if signature is None:
        signature = twilio_signature(token, signed_url, fields)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature:
        headers["X-Twilio-Signature"] = signature
    async with http.post(local_url, data=urlencode(fields), headers=headers) as response:
        return Answer(response.status, await response.text())


def sms_fields(number: str, body: str, sid: str) -> list[tuple[str, str]]:
    """An inbound SMS as Twilio posts it to the webhook, field by field."""
    return [
        ("ToCountry", "GB"),
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("Body", body),
        ("FromCountry", "GB"),
        ("To", OUR_NUMBER),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", number),
        ("ApiVersion", "2010-04-01"),
    ]


class Phone:
    """A mobile phone texting Chorus's SMS webhook."""

    def __init__(self, http: aiohttp.ClientSession, port: int, number: str) -> None:
        self.http = http
        self.local_url = f"http://127.0.0.1:{port}/webhooks/sms"
        self.number = number
        self.inbox: list[str] = []  # every message Chorus sent back, in order

    def fields(self, body: str, sid: str | None = None) -> list[tuple[str, str]]:
        return sms_fields(self.number, body, sid or new_sid("SM"))

    async def send(self, body: str, *, sid: str | None = None) -> Answer:
        answer = await post_signed(self.http, self.local_url, SMS_URL, self.fields(body, sid))
        self.inbox += answer.messages if answer.status == 200 else []
        return answer

    async def text(self, body: str) -> list[str]:
        answer = await self.send(body)
        assert answer.status == 200, answer
        return answer.messages


@dataclass
class Turn:
    """What the caller heard after one request, and what the call waits for next."""

    status: int
    said: str = ""
    gather: dict = field(default_factory=dict)  # the <Gather> attributes, if any
    hung_up: bool = False


class Caller:
    """A phone call to Chorus's voice webhook that follows the TwiML it gets back."""

    def __init__(
        self, http: aiohttp.ClientSession, port: int, number: str, call_sid: str | None = None
    ) -> None:
        self.http = http
        self.origin = f"http://127.0.0.1:{port}"
        self.number = number
        self.call_sid = call_sid or new_sid("CA")
        self.next_url = VOICE_URL
        self.last: Turn | None = None

    def fields(self, **extra: str) -> list[tuple[str, str]]:
        status = "ringing" if self.next_url == VOICE_URL else "in-progress"
        return [
            ("AccountSid", ACCOUNT_SID),
            ("ApiVersion", "2010-04-01"),
            ("CallSid", self.call_sid),
            ("CallStatus", status),
            ("Direction", "inbound"),
            ("From", self.number),
            ("To", OUR_NUMBER),
            *extra.items(),
        ]

    async def post(self, url: str, fields: Sequence[tuple[str, str]], **kwargs) -> Turn:
        parts = urlsplit(url)
        local = f"{self.origin}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        answer = await post_signed(self.http, local, url, fields, **kwargs)
        if answer.status != 200:
            return Turn(answer.status)
        root = ET.fromstring(answer.body)
        said = " ".join((say.text or "") for say in root.iter("Say"))
        gather = root.find("Gather")
        turn = Turn(
            200,
            said=said,
            gather=dict(gather.attrib) if gather is not None else {},
            hung_up=root.find("Hangup") is not None,
        )
        if gather is not None:
            self.next_url = gather.attrib["action"]
        self.last = turn
        return turn

    async def dial(self) -> Turn:
        return await self.post(VOICE_URL, self.fields())

    async def press(self, digits: str) -> Turn:
        return await self.post(self.next_url, self.fields(Digits=digits))

    async def speak(self, words: str, confidence: str = "0.92") -> Turn:
        return await self.post(
            self.next_url, self.fields(SpeechResult=words, Confidence=confidence)
        )

    async def stay_silent(self) -> Turn:
        return await self.post(self.next_url, self.fields())


# Per-minute message counters (the flood limit across PostgreSQL workers) count every
# message, an opted-out person's too; keyed by a hash of pseudonym and minute, they name
# nobody and are dropped after a minute, so "nothing stored" leaves them out.
COUNTERS = frozenset({"message_counts"})


async def every_row(store: Store) -> dict[str, list[tuple]]:
    """Every row of every table, by table (but the flood counters)."""
    async with store.reader() as unit:
        return {
            table.name: [tuple(row) for row in (await unit.session.execute(table.select()))]
            for table in Base.metadata.sorted_tables
            if table.name not in COUNTERS
        }


async def no_phone_number_is_stored(store: Store, numbers: Sequence[str]) -> None:
    """No value in any table holds the digits of a phone number, in any format: +44 7700
    900101, 447700900101, 07700 900101 or 7700-900-101 all hold its last ten digits."""
    national = [number[-10:] for number in numbers]
    for table, rows in (await every_row(store)).items():
        for row in rows:
            for value in row:
                text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                digits = "".join(char for char in text if char.isdigit())
                for number in national:
                    assert number not in digits, (table, value)


class FakeTwilioApi:
    """Twilio's REST Messages API on a random local port. Records what is sent and
    answers 201, or what the test queued with `fail_next`."""

    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []
        self.auth: list[str] = []
        self._answers: deque[tuple[int, dict | None, dict]] = deque()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def fail_next(self, status: int, code: int | None, headers: dict | None = None) -> None:
        body = {"status": status, "message": "The message From/To pair violates a blacklist rule."}
        if code is not None:
            body["code"] = code
        self._answers.append((status, body, headers or {}))

    def fail_with_html(self, status: int, times: int) -> None:
        """Answer the next `times` sends with an HTML error page, as a proxy does."""
        self._answers.extend([(status, None, {})] * times)

    def recover(self) -> None:
        """Accept messages again, whatever failures were still queued."""
        self._answers.clear()

    async def _messages(self, request: web.Request) -> web.Response:
        self.auth.append(request.headers.get("Authorization", ""))
        form = dict(await request.post())
        if self._answers:
            status, body, headers = self._answers.popleft()
            if body is None:
                return html_error(status, "Bad Gateway")
            return web.json_response(body, status=status, headers=headers)
        self.sent.append({"account": request.match_info["account"], **form})
        return web.json_response({"sid": new_sid("SM"), "status": "queued"}, status=201)

    async def __aenter__(self) -> FakeTwilioApi:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._messages)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
