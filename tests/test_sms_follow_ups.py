"""SMS follow-ups through a fake Twilio REST API (news sent after a person said yes, a
long idea quoted in two segments, nothing sent after STOP, the number deleted by STOP and
FORGET, sends refused without an account), and the channel turned off without a token
or checked against the URL Chorus sees. The webhook itself is tests/test_sms.py."""

from __future__ import annotations

import base64
import logging
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select

from bot.channels import sms as sms_channel
from bot.channels.base import BadRequest
from bot.channels.sms_segments import GSM7, measure
from bot.outbox import OutboxDispatcher
from bot.runtime import Runtime
from handlers.catalogue import Catalogue
from handlers.types import Reply
from storage.models import (
    Contact,
    OutboxMessage,
    Participant,
)
from tests.conftest import make_settings, with_environ
from tests.test_sms import AMIRA, BOB, check_segments, chorus, count, store_of
from tests.twilio_fakes import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    OUR_NUMBER,
    SMS_URL,
    FakeTwilioApi,
    Phone,
    no_phone_number_is_stored,
    post_signed,
    running_chorus,
    twilio_settings,
)

__all__ = ["chorus"]  # the fixture, shared with tests/test_sms.py

# --- Follow-ups through Twilio's REST API ----------------------------------------------------


async def opted_in(phone: Phone) -> None:
    for word in ("START", "yes", "skip", "skip", "skip", "Physio on prescription", "YES"):
        await phone.text(word)


async def enqueue(runtime: Runtime, text: str) -> int:
    """Queue a follow-up for the one participant, as a background job would."""
    async with runtime.services.store.transaction() as unit:
        person = await unit.session.scalar(select(Participant.id))
        return await unit.outbox.enqueue(person, "sms", text, runtime.services.engine.clock())


async def outbox_row(runtime: Runtime, message_id: int) -> OutboxMessage:
    async with runtime.services.store.reader() as unit:
        return await unit.session.get(OutboxMessage, message_id)


async def test_follow_ups_go_through_the_twilio_api(database_url: str) -> None:
    async with FakeTwilioApi() as api, aiohttp.ClientSession() as http:
        settings = twilio_settings(database_url, api_base=api.base_url)
        async with running_chorus(settings) as chorus:
            await opted_in(Phone(http, chorus.port, AMIRA))
            news = "Your idea was joined with a similar one: more physios in GP surgeries."
            await enqueue(chorus, news)
            dispatcher = OutboxDispatcher(chorus.services, {c.name: c for c in chorus.channels})
            assert await dispatcher.run_once() == 1
            assert api.sent == [
                {"account": ACCOUNT_SID, "To": AMIRA, "From": OUR_NUMBER, "Body": news}
            ]
            credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
            assert api.auth == [f"Basic {credentials}"]

            api.fail_next(429, 20429, {"Retry-After": "120"})
            second = await enqueue(chorus, "Second piece of news")
            assert await dispatcher.run_once() == 0
            waiting = await outbox_row(chorus, second)
            assert waiting.status == "queued" and waiting.attempts == 1
            assert waiting.last_error == "Twilio error 20429 (HTTP 429)"
            delay = waiting.next_attempt_at - chorus.services.engine.clock()
            assert timedelta(seconds=100) < delay <= timedelta(seconds=120)

            api.fail_next(400, 21610)  # they have texted STOP to the number itself
            async with store_of(chorus).transaction() as unit:
                await unit.outbox.retry_later(
                    second, "", chorus.services.engine.clock(), delay=timedelta(0), give_up=False
                )
            assert await dispatcher.run_once() == 0
            failed = await outbox_row(chorus, second)
            async with store_of(chorus).reader() as unit:
                person = await unit.session.scalar(select(Participant))
            assert person.unreachable and failed.status == "failed"
            assert failed.last_error == "Twilio error 21610 (HTTP 400)"  # no number in it
            assert len(api.sent) == 1


async def test_news_quoting_a_long_idea_is_one_text_of_two_segments(database_url: str) -> None:
    async with FakeTwilioApi() as api, aiohttp.ClientSession() as http:
        settings = twilio_settings(database_url, api_base=api.base_url)
        async with running_chorus(settings) as chorus:
            await opted_in(Phone(http, chorus.port, AMIRA))
            dispatcher = OutboxDispatcher(chorus.services, {c.name: c for c in chorus.channels})
            for idea in ("Physio in every GP surgery. " * 20, "Więcej fizjoterapeutów. " * 20):
                news = Catalogue().text("merged_yours", number=4, into=9, text=idea.strip())
                await enqueue(chorus, news)
                assert await dispatcher.run_once() == 1
            first, second = (sent["Body"] for sent in api.sent)
            assert first.startswith("News about your idea 4") and '..."' in first
            assert first.endswith("Votes on both now count together.")
            assert (measure(first).encoding, measure(second).encoding) == (GSM7, "UCS-2")
            check_segments([first, second])


async def test_news_queued_before_stop_is_never_sent(database_url: str) -> None:
    async with FakeTwilioApi() as api, aiohttp.ClientSession() as http:
        settings = twilio_settings(database_url, api_base=api.base_url)
        async with running_chorus(settings) as chorus:
            amira = Phone(http, chorus.port, AMIRA)
            await opted_in(amira)
            await enqueue(chorus, "Your idea was joined with a similar one.")
            assert (await amira.send("STOP")).messages == []
            dispatcher = OutboxDispatcher(chorus.services, {c.name: c for c in chorus.channels})
            assert await dispatcher.run_once() == 0
            assert api.sent == [] and await count(store_of(chorus), OutboxMessage) == 0
            await amira.text("START")  # back in, but the number is gone: still no news
            await enqueue(chorus, "More news")
            assert await dispatcher.run_once() == 0 and api.sent == []


@pytest.mark.parametrize("word", ["STOP", "FORGET"])
async def test_stop_and_forget_delete_the_follow_up_number(
    word: str, chorus: Runtime, http: aiohttp.ClientSession
) -> None:
    amira = Phone(http, chorus.port, AMIRA)
    await opted_in(amira)
    store = store_of(chorus)
    async with store.reader() as unit:
        contact = await unit.session.scalar(select(Contact))
    assert AMIRA.encode() not in contact.address_encrypted
    assert chorus.services.contacts.decrypt(contact.address_encrypted) == AMIRA
    await amira.text(word)
    if word == "FORGET":
        await amira.text("YES")
    assert await count(store, Contact) == 0
    await no_phone_number_is_stored(store, (AMIRA, BOB))


async def test_sends_are_refused_without_an_account(database_url: str) -> None:
    settings = twilio_settings(database_url)
    settings = with_environ(settings, TWILIO_ACCOUNT_SID=None)
    async with running_chorus(settings) as chorus:
        [channel] = [c for c in chorus.channels if c.name == "sms"]
        with pytest.raises(BadRequest, match="TWILIO_ACCOUNT_SID"):
            await channel.deliver(AMIRA, [Reply("news")])


# --- Turned off without a token ----------------------------------------------------------------


async def test_without_a_token_the_webhook_does_not_exist(
    database_url: str, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running_chorus(make_settings(database_url)) as chorus:
        assert [c.name for c in chorus.channels] == ["web"]  # the form needs no token
        answer = await post_signed(
            http,
            f"http://127.0.0.1:{chorus.port}/webhooks/sms",
            SMS_URL,
            Phone(http, chorus.port, AMIRA).fields("START"),
        )
    assert answer.status == 404
    lines = [r.getMessage() for r in caplog.records if r.name == sms_channel.__name__]
    assert len(lines) == 1 and "TWILIO_AUTH_TOKEN" in lines[0]
    assert OUR_NUMBER not in lines[0]


async def test_without_public_url_the_url_chorus_sees_is_checked(
    database_url: str, http: aiohttp.ClientSession
) -> None:
    async with running_chorus(twilio_settings(database_url, public_url=None)) as chorus:
        phone = Phone(http, chorus.port, AMIRA)
        local = await post_signed(http, phone.local_url, phone.local_url, phone.fields("START"))
        public = await post_signed(http, phone.local_url, SMS_URL, phone.fields("START"))
    assert (local.status, public.status) == (200, 403)
