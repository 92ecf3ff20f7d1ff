"""Property-based tests (hypothesis): redaction, command parsing, SMS segmentation and
rendering, and each webhook parser — Telegram's update parser, X's payload parser, the
Twilio form reader and the web form reader (the last two over real HTTP)."""

from __future__ import annotations

import asyncio
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram import Bot

from bot.channels.kit import Forged, Malformed
from bot.channels.sms_render import render_sms
from bot.channels.sms_segments import GSM7, LIMITS, UCS2, measure
from bot.channels.telegram.updates import Action, classify, parse_update
from bot.channels.twilio_common import TwilioWebhook
from bot.channels.x_posts import posts_from_payload
from bot.forms import read_form
from handlers.commands import ALONE_WORDS, NEWS_SWITCHES, PARTICIPANT_COMMANDS, parse_command
from handlers.enrich.redact import MARKERS, redact
from handlers.types import Reply
from tests.twilio_fakes import AUTH_TOKEN, twilio_signature

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            TEXT | st.sampled_from(["message", "text", "chat", "from", "id"]), children, max_size=4
        )
    ),
    max_leaves=20,
)

# --- Redaction ----------------------------------------------------------------------

EMAILS = st.builds(
    "{}@{}.{}".format,
    st.from_regex(r"[a-z][a-z0-9._]{0,10}[a-z0-9]", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True),
    st.sampled_from(["com", "org", "co.uk", "nhs.uk", "net"]),
)
WORDS = st.text(alphabet="abcdefghij klmnop,.!?'", max_size=40)


@given(TEXT)
def test_redaction_is_total_and_stable(text: str) -> None:
    once = redact(text)
    assert redact(once.text).text == once.text  # markers are never redacted again
    assert set(once.kinds) <= set(MARKERS)


@given(WORDS, EMAILS, WORDS)
def test_an_email_anywhere_is_redacted(before: str, email: str, after: str) -> None:
    result = redact(f"{before} {email} {after}")
    assert email not in result.text and "email" in result.kinds


@given(WORDS, st.from_regex(r"07[0-9]{3} ?[0-9]{6}", fullmatch=True), WORDS)
def test_a_uk_mobile_number_anywhere_is_redacted(before: str, number: str, after: str) -> None:
    result = redact(f"{before} {number} {after}")
    assert number not in result.text and re.sub(r"\D", "", number) not in result.text


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz ,.!?'", max_size=200))
def test_text_without_personal_data_is_kept_exactly(text: str) -> None:
    assert redact(text).text == text


# --- Command parsing ----------------------------------------------------------------


@given(TEXT)
def test_command_parsing_never_fails_and_names_a_lowercase_word(text: str) -> None:
    command = parse_command(text)
    if command is not None:
        assert command.word.isalpha() and command.word == command.word.lower()
        assert command.argument == command.argument.strip()


ARGUMENTS = TEXT.map(str.strip).filter(lambda a: a and not a.startswith("@"))


@given(st.sampled_from(sorted(PARTICIPANT_COMMANDS)), ARGUMENTS, st.booleans(), st.booleans())
def test_a_command_word_is_found_whatever_its_case_and_slash(
    word: str, argument: str, slashed: bool, upper: bool
) -> None:
    text = f"{'/' if slashed else ''}{word.upper() if upper else word} {argument}"
    command = parse_command(text)
    if not slashed and word in ALONE_WORDS:
        assert command is None  # "yes I think so" is text
        return
    if not slashed and word == "news" and argument.casefold().rstrip(".!") not in NEWS_SWITCHES:
        assert command is None  # NEWS OFF and NEWS ON only; "news about..." is text
        return
    assert command is not None and command.word == word
    assert command.argument == argument
    assert command.slashed is slashed


# --- SMS segments and rendering -----------------------------------------------------


@given(TEXT)
def test_segments_are_what_the_units_need(text: str) -> None:
    measured = measure(text)
    assert measured.encoding in (GSM7, UCS2)
    single, per_part = LIMITS[measured.encoding]
    assert (measured.segments == 0) == (text == "")
    if measured.units <= single:
        assert measured.segments <= 1
    else:
        assert measured.segments >= -(-measured.units // per_part)


@given(TEXT, TEXT)
def test_more_text_never_costs_fewer_segments(text: str, more: str) -> None:
    assert (
        measure(text + more).segments >= measure(text).segments
        or (measure(text).encoding == UCS2 and measure(text + more).encoding == UCS2) is False
    )


@given(TEXT.filter(str.strip))
def test_rendered_sms_fit_two_segments_and_lose_no_word(text: str) -> None:
    parts = render_sms([Reply(text)])
    assert parts and all(measure(part).segments <= 2 for part in parts)
    squeeze = re.compile(r"\s+")
    from bot.channels.sms_segments import gsm_friendly

    assert squeeze.sub("", "".join(parts)) == squeeze.sub("", gsm_friendly(text))


# --- Telegram's and X's parsers -----------------------------------------------------

BOT = Bot("123456:" + "A" * 35)


@given(JSON)
def test_any_json_is_an_update_or_none_never_an_error(data: object) -> None:
    update = parse_update(data, BOT)
    if update is not None:
        classify(update)  # and whatever it is, it can be classified


@given(TEXT.filter(str.strip), st.integers(1, 2**40))
def test_a_private_text_message_arrives_as_its_text(text: str, user: int) -> None:
    data = {
        "update_id": 7,
        "message": {
            "message_id": 1,
            "date": 1764579600,
            "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": "A"},
            "text": text,
        },
    }
    incoming = classify(parse_update(data, BOT))
    assert incoming.action is Action.HANDLE
    assert incoming.inbound is not None and incoming.inbound.text == text


@given(JSON)
def test_any_json_from_x_gives_posts_or_nothing_never_an_error(payload: object) -> None:
    posts = posts_from_payload(payload, received_at=datetime(2026, 12, 1, tzinfo=UTC))
    assert isinstance(posts, list)


# --- The form readers, over real HTTP -----------------------------------------------


class Server:
    """A small aiohttp app on a random port, in a thread of its own, so synchronous
    hypothesis tests can post to it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._up(), self.loop).result(timeout=30)

    async def _up(self) -> None:
        webhook = TwilioWebhook("sms", AUTH_TOKEN, "https://chorus.example/webhooks/sms")

        async def twilio(request: web.Request) -> web.Response:
            # As the channel kit answers: 403 for a bad signature, 400 for a bad body.
            try:
                fields = webhook.checked_form(request, await request.read())
            except Forged as error:
                raise web.HTTPForbidden(text=str(error)) from None
            except Malformed as error:
                raise web.HTTPBadRequest(text=str(error)) from None
            return web.json_response(list(fields.items()))

        async def form(request: web.Request) -> web.Response:
            try:
                fields = await read_form(request, await request.read())
            except Malformed as error:
                raise web.HTTPBadRequest(text=str(error)) from None
            return web.json_response(list(fields.items()))

        app = web.Application()
        app.router.add_post("/twilio", twilio)
        app.router.add_post("/form", form)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, object]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                import json

                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    running = Server()
    running.start()
    yield running
    running.stop()


# Twilio posts each field once (its validator sorts a field's values as a set).
FIELDS = st.lists(st.tuples(TEXT.filter(bool), TEXT), max_size=8, unique_by=lambda f: f[0])
EXAMPLES = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@EXAMPLES
@given(FIELDS)
def test_a_signed_twilio_form_reads_back_exactly(server: Server, fields) -> None:
    signature = twilio_signature(AUTH_TOKEN, "https://chorus.example/webhooks/sms", fields)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    status, body = server.post("/twilio", urlencode(fields).encode(), headers)
    assert status == 200, body
    assert [tuple(pair) for pair in body] == [(n, v) for n, v in fields]


@EXAMPLES
@given(st.lists(st.tuples(TEXT.filter(bool), TEXT), max_size=8))
def test_a_web_form_reads_back_exactly(server: Server, fields) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, body = server.post("/form", urlencode(fields).encode(), headers)
    assert status == 200, body
    assert [tuple(pair) for pair in body] == [(n, v) for n, v in fields]


@EXAMPLES
@given(
    st.binary(max_size=300),
    st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=b0und",
            "multipart/form-data",
            "text/plain",
        ]
    ),
)
def test_any_bytes_are_a_form_or_a_400_never_a_500(server: Server, body: bytes, kind: str) -> None:
    for path, extra in (("/form", {}), ("/twilio", {"X-Twilio-Signature": "c2ln"})):
        status, _ = server.post(path, body, {"Content-Type": kind, **extra})
        assert status in (200, 400, 403), (path, status)
