"""Every provider call path through an outage, over real HTTP against the fakes: the
provider answers 502 with an HTML page (as a proxy in front of it does) again and again,
then answers properly. Each time the log holds one WARNING for the outage and no
traceback, the repeats at DEBUG, /healthz shows the channel waiting with the reason while
it lasts, one INFO line when the provider answers again, and nothing is lost: the reply,
follow-up or post goes through after the recovery.

Telegram's polling is covered by tests/test_provider_outage.py.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from bot.channels.twitter import TwitterChannel
from bot.config import Settings
from bot.outbox import OutboxDispatcher
from bot.server import build_web_app
from storage.models import OutboxMessage
from tests.channel_harness import ChorusUnderTest
from tests.fakes.telegram_bot_api import FakeBotAPI, User
from tests.fakes.whatsapp_graph import FakeGraphAPI, text_message
from tests.fakes.x_api import Failure, FakeX
from tests.telegram_harness import TOKEN as TELEGRAM_TOKEN
from tests.telegram_harness import ChorusWithTelegram, new_user_id, telegram_settings
from tests.test_sms import AMIRA as SMS_NUMBER
from tests.test_sms_follow_ups import enqueue, opted_in
from tests.test_whatsapp import AMIRA, PHONE_ID, WhatsAppDriver, body_of, whatsapp_settings
from tests.test_whatsapp import TOKEN as WHATSAPP_TOKEN
from tests.twilio_fakes import FakeTwilioApi, Phone, twilio_settings
from tests.x_harness import TAG, FastSleep, chorus, pid, stored, until
from tests.x_harness import TOKEN as X_TOKEN

FAILURES_SEEN = 3  # answers the provider fails before the test looks at /healthz


@pytest.fixture(autouse=True)
def everything_logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    # Chorus's own lines at every level; the libraries' from WARNING up, as in production.
    caplog.set_level(logging.DEBUG, logger="bot")
    return caplog


async def waiting_in_healthz(port: int, channel: str) -> str | None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/healthz") as response,
    ):
        return (await response.json())["channels"][channel].get("waiting")


def one_outage(records: list[logging.LogRecord], what: str) -> tuple[str, str]:
    """The outage's WARNING and INFO lines, once it is checked that they are the only
    WARNING and the only recovery, that repeats went to DEBUG and no record carries a
    traceback."""
    lines = [(record.levelno, record.getMessage()) for record in records]
    warnings = [text for level, text in lines if level >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith(f"{what} failed: "), warnings
    repeats = [text for level, text in lines if text.startswith(f"{what} failed again")]
    assert repeats and all(level == logging.DEBUG for level, text in lines if text in repeats), (
        repeats
    )
    back = [text for level, text in lines if text.startswith(f"{what} answers again")]
    assert len(back) == 1 and (logging.INFO, back[0]) in lines
    assert not any(record.exc_info or record.exc_text for record in records)
    assert not any("Traceback" in text or "<html>" in text for _level, text in lines)
    return warnings[0], back[0]


async def test_telegram_replies_wait_out_an_outage(database_url: str, caplog) -> None:
    async with FakeBotAPI(TELEGRAM_TOKEN) as api:
        settings = telegram_settings(database_url, api.base_url, mode="webhook")
        async with ChorusWithTelegram(settings) as chorus:
            person = User(new_user_id())
            caplog.clear()
            api.fail("sendMessage", 502, "Bad Gateway", times=10_000, html=True)
            assert await chorus.post(api.text_update(person, "/start")) == 200
            await api.wait_for_calls("sendMessage", FAILURES_SEEN)
            waiting = await waiting_in_healthz(chorus.port, "telegram")
            assert waiting == "Bad Gateway (502), and the answer was not JSON"
            api.recover("sendMessage")
            await chorus.channel.drained()
            assert api.chat(person.id), "the reply was lost"
            assert await waiting_in_healthz(chorus.port, "telegram") is None
    one_outage(caplog.records, "Telegram sending")


async def test_whatsapp_replies_wait_out_an_outage(database_url: str, caplog) -> None:
    async with (
        FakeGraphAPI(WHATSAPP_TOKEN, PHONE_ID) as graph,
        ChorusUnderTest(whatsapp_settings(database_url, graph.base_url)) as chorus,
    ):
        caplog.clear()
        graph.fail_next(502, times=10_000, html=True)
        body = body_of(text_message(AMIRA, "Hello"))
        assert (await chorus.post(WhatsAppDriver(graph), body))[0] == 200
        await graph.wait_for_requests(FAILURES_SEEN)
        waiting = await waiting_in_healthz(chorus.port, "whatsapp")
        assert waiting == "WhatsApp HTTP 502, and the answer was not JSON"
        graph.failures.clear()
        await chorus.channel("whatsapp").drained()
        assert graph.to(AMIRA)[-1].text.endswith("Reply YES or NO.")
        assert await waiting_in_healthz(chorus.port, "whatsapp") is None
    one_outage(caplog.records, "WhatsApp sending")


async def test_sms_follow_ups_wait_out_an_outage(database_url: str, caplog) -> None:
    async with (
        FakeTwilioApi() as api,
        aiohttp.ClientSession() as http,
        ChorusUnderTest(patient_twilio_settings(database_url, api.base_url)) as chorus,
    ):
        await opted_in(Phone(http, chorus.port, SMS_NUMBER))
        dispatcher = OutboxDispatcher(chorus.services, {c.name: c for c in chorus.channels})
        news = "Your idea was joined with a similar one."
        message_id = await enqueue(chorus, news)
        caplog.clear()
        api.fail_with_html(502, times=FAILURES_SEEN)
        for _ in range(FAILURES_SEEN):
            assert await dispatcher.run_once() == 0
            await due_now(chorus.services, message_id)
        waiting = await waiting_in_healthz(chorus.port, "sms")
        assert waiting == "Twilio HTTP 502, and the answer was not JSON"
        assert await dispatcher.run_once() == 1
        assert [sent["Body"] for sent in api.sent] == [news]
        assert await waiting_in_healthz(chorus.port, "sms") is None
    one_outage(caplog.records, "Twilio sending (SMS)")


def patient_twilio_settings(database_url: str, api_base: str) -> Settings:
    """The first idea waits for the models, which take seconds on a busy machine."""
    settings = twilio_settings(database_url, api_base=api_base)
    store = settings.file.store.model_copy(update={"webhook_seconds": 14})
    return replace(settings, file=settings.file.model_copy(update={"store": store}))


async def due_now(services, message_id: int) -> None:
    """Skip the outbox's wait before the next attempt (minutes in real life)."""
    async with services.store.transaction() as unit:
        row = await unit.session.scalar(select(OutboxMessage).where(OutboxMessage.id == message_id))
        assert row is not None and row.status == "queued"
        row.next_attempt_at = services.engine.clock()


async def test_x_polling_waits_out_an_outage(
    database_url: str, fake_x: FakeX, http: aiohttp.ClientSession, caplog
) -> None:
    fake_x.fail("search", Failure(502, {}, html=True), times=10_000)
    fake_x.post(pid(1), f"Music therapy on every ward {TAG}", "41")
    async with chorus(database_url, fake_x, mode="poll") as services:
        channel = TwitterChannel(services, http, X_TOKEN, sleep=FastSleep())
        async with serving(services, channel) as port:
            listener = channel.listener
            await until(listener, lambda it: it.counts["faults"] >= FAILURES_SEEN)
            assert await waiting_in_healthz(port, "x") == "polling failed: 502"
            fake_x.failures["search"].clear()
            await until(listener, stored(1))
            await until(listener, lambda it: it.outage.waiting is None)
            assert await waiting_in_healthz(port, "x") is None
    one_outage(caplog.records, "X API")


class serving:
    """`channel` started, and Chorus's server with /healthz on a random port."""

    def __init__(self, services, channel: TwitterChannel) -> None:
        self.services, self.channel = services, channel
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> int:
        self._runner = web.AppRunner(build_web_app(self.services, [self.channel]))
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        await self.channel.start()
        return self._runner.addresses[0][1]

    async def __aexit__(self, *_exc: object) -> None:
        await self.channel.stop()
        assert self._runner is not None
        await self._runner.cleanup()
