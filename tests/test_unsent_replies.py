"""Replies waiting out a provider's outage when Chorus stops are not lost: they are kept in
the outbox as one plain message (buttons as numbered lines) and go out after the restart,
over real HTTP against the fakes; typing a number then answers the kept question."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import select

from bot.channels.chat_sends import numbered
from bot.channels.telegram.render import AnswerPress, SendText, keyboard, link_keyboard
from bot.channels.telegram.render import plain_text as telegram_text
from bot.channels.whatsapp.render import plain_text as whatsapp_text
from bot.channels.whatsapp.render import render_one
from bot.outbox import OutboxDispatcher
from handlers.catalogue import Catalogue
from handlers.types import Choice, Reply
from storage.models import OutboxMessage
from tests.channel_harness import ChorusUnderTest
from tests.fakes.telegram_bot_api import FakeBotAPI, User
from tests.fakes.whatsapp_graph import FakeGraphAPI, text_message
from tests.telegram_harness import TOKEN as TELEGRAM_TOKEN
from tests.telegram_harness import ChorusWithTelegram, new_user_id, telegram_settings
from tests.test_whatsapp import AMIRA, PHONE_ID, WhatsAppDriver, body_of, whatsapp_settings
from tests.test_whatsapp import TOKEN as WHATSAPP_TOKEN

CHOICES = (Choice("Yes, I agree", "consent:yes"), Choice("No thanks", "consent:no"))
LATE = Catalogue().text("replies_late")


async def kept_in_outbox(services) -> list[OutboxMessage]:
    async with services.store.transaction() as unit:
        return list(await unit.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_numbered_lines_follow_the_text() -> None:
    assert numbered("Agree?", ["Yes", "No"]) == "Agree?\n\n1. Yes\n2. No"
    assert numbered("Thanks.", []) == "Thanks."


def test_a_telegram_message_keeps_its_buttons_as_numbers_but_not_links() -> None:
    assert telegram_text(SendText("Agree?", keyboard(CHOICES))) == (
        "Agree?\n\n1. Yes, I agree\n2. No thanks"
    )
    assert telegram_text(SendText("Open the chat", link_keyboard("Open", "https://t.me/x"))) == (
        "Open the chat"
    )
    assert telegram_text(AnswerPress("q1")) is None


@pytest.mark.parametrize("count", [2, 5, 12])  # buttons, a list, a numbered text
def test_a_whatsapp_message_keeps_its_choices_as_numbers(count: int) -> None:
    choices = tuple(Choice(f"Option {n}", f"o:{n}") for n in range(1, count + 1))
    [message] = render_one(Reply("Which one?", choices=choices))
    expected = "\n".join(f"{n}. Option {n}" for n in range(1, count + 1))
    assert whatsapp_text(message) == f"Which one?\n\n{expected}"


async def test_telegram_replies_waiting_at_stop_go_out_after_the_restart(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    person = User(new_user_id())
    async with FakeBotAPI(TELEGRAM_TOKEN) as api:
        settings = telegram_settings(database_url, api.base_url, mode="webhook")
        async with ChorusWithTelegram(settings) as chorus:
            assert await chorus.post(api.text_update(person, "/start")) == 200
            await chorus.channel.drained()
            seen = len(api.chat(person.id))
            api.fail("sendMessage", 502, "Bad Gateway", times=10_000, html=True)
            assert await chorus.post(api.text_update(person, "yes")) == 200
            await api.wait_for_calls("sendMessage", seen + 2)
        assert len(api.chat(person.id)) == seen, "the fake was meant to be down"
        assert "telegram replies not sent before stopping; kept to send later" in caplog.text

        api.recover("sendMessage")
        async with ChorusWithTelegram(settings) as chorus:
            assert chorus.services is not None
            [kept] = await kept_in_outbox(chorus.services)
            assert kept.channel == "telegram" and kept.status == "queued"
            assert kept.text.startswith(f"{LATE}\n\n"), kept.text  # why it comes now
            assert "\n\n1. " in kept.text and "\n2. " in kept.text, kept.text
            dispatcher = OutboxDispatcher(chorus.services, {"telegram": chorus.channel})
            assert await dispatcher.run_once() == 1
            assert api.chat(person.id)[-1]["text"] == kept.text
            # The kept question is answered by typing the number of its first choice.
            assert await chorus.post(api.text_update(person, "1")) == 200
            await chorus.channel.drained()
            answer = api.chat(person.id)[-1]["text"]
            assert answer != kept.text and "choose one of the" not in answer.lower(), answer


async def test_a_telegram_reply_cut_off_by_the_stop_is_kept(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Telegram takes the call and never answers: the stop's time runs out (as in
    `Runtime.stop`) and cancels the send, whose reply is kept all the same."""
    caplog.set_level(logging.INFO, logger="bot")
    person = User(new_user_id())
    async with FakeBotAPI(TELEGRAM_TOKEN) as api:
        settings = telegram_settings(database_url, api.base_url, mode="webhook")
        async with ChorusWithTelegram(settings) as chorus:
            assert chorus.channel is not None and chorus.services is not None
            assert await chorus.post(api.text_update(person, "/start")) == 200
            await chorus.channel.drained()
            seen = len(api.calls_of("sendMessage"))
            api.hold("sendMessage")
            assert await chorus.post(api.text_update(person, "yes")) == 200
            await api.wait_for_calls("sendMessage", seen + 1)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    await chorus.channel.stop()
            [kept] = await kept_in_outbox(chorus.services)
            assert kept.channel == "telegram" and "\n\n1. " in kept.text, kept.text
            await api.release("sendMessage")
        assert "telegram replies not sent before stopping; kept to send later" in caplog.text


async def test_whatsapp_replies_waiting_at_stop_go_out_after_the_restart(
    database_url: str,
) -> None:
    async with FakeGraphAPI(WHATSAPP_TOKEN, PHONE_ID) as graph:
        settings = whatsapp_settings(database_url, graph.base_url)
        driver = WhatsAppDriver(graph)
        async with ChorusUnderTest(settings) as chorus:
            assert (await chorus.post(driver, body_of(text_message(AMIRA, "Hello"))))[0] == 200
            await chorus.channel("whatsapp").drained()
            seen = len(graph.to(AMIRA))
            graph.fail_next(502, times=10_000, html=True)
            assert (await chorus.post(driver, body_of(text_message(AMIRA, "yes"))))[0] == 200
            await graph.wait_for_requests(seen + 2)
        assert len(graph.to(AMIRA)) == seen

        graph.failures.clear()
        async with ChorusUnderTest(settings) as chorus:
            [kept] = await kept_in_outbox(chorus.services)
            assert kept.channel == "whatsapp" and "\n\n1. " in kept.text, kept.text
            assert kept.text.startswith(f"{LATE}\n\n"), kept.text
            dispatcher = OutboxDispatcher(chorus.services, {"whatsapp": chorus.channel("whatsapp")})
            assert kept.address_encrypted is not None
            assert AMIRA.encode() not in kept.address_encrypted  # encrypted at rest
            assert await dispatcher.run_once() == 1
            assert graph.to(AMIRA)[-1].text == kept.text
            [sent] = await kept_in_outbox(chorus.services)
            assert sent.status == "sent" and sent.address_encrypted is None


async def test_nothing_is_kept_for_someone_not_taking_part(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    async with FakeGraphAPI(WHATSAPP_TOKEN, PHONE_ID) as graph:
        settings = whatsapp_settings(database_url, graph.base_url)
        async with ChorusUnderTest(settings) as chorus:
            graph.fail_next(502, times=10_000, html=True)
            body = body_of(text_message(AMIRA, "Hello"))  # the welcome, before consent
            assert (await chorus.post(WhatsAppDriver(graph), body))[0] == 200
            await graph.wait_for_requests(2)
        assert "to someone not taking part: not kept" in caplog.text
        async with ChorusUnderTest(settings) as chorus:
            assert await kept_in_outbox(chorus.services) == []
