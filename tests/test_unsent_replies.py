"""Replies waiting out a provider's outage when Chorus stops are not lost: they are kept in
the outbox as one plain message (buttons as numbered lines) and go out after the restart,
over real HTTP against the fakes; typing a number then answers the kept question."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select, update

from bot.channels.chat_sends import numbered
from bot.channels.telegram.channel import WEBHOOK_PATH
from bot.channels.telegram.render import AnswerPress, SendText, keyboard, link_keyboard
from bot.channels.telegram.render import plain_text as telegram_text
from bot.channels.unsent_replies import HOLD
from bot.channels.whatsapp.render import plain_text as whatsapp_text
from bot.channels.whatsapp.render import render_one
from bot.outbox import OutboxDispatcher
from handlers.catalogue import Catalogue
from handlers.deps import utc_now
from handlers.types import Choice, Reply
from storage.database import Store
from storage.models import OutboxMessage
from tests.channel_harness import ChorusUnderTest
from tests.conftest import REPO, TEST_SECRET, write_config
from tests.fakes.telegram_bot_api import FakeBotAPI, User
from tests.fakes.whatsapp_graph import FakeGraphAPI, text_message
from tests.telegram_harness import (
    PUBLIC_URL,
    WEBHOOK_SECRET,
    ChorusWithTelegram,
    new_user_id,
    post_update,
    telegram_settings,
)
from tests.telegram_harness import TOKEN as TELEGRAM_TOKEN
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
    async with telegram_after_start(database_url) as (api, chorus, person):
        assert chorus.channel is not None and chorus.services is not None
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


async def test_a_whatsapp_reply_waiting_for_the_api_has_a_copy_until_it_is_sent(
    database_url: str,
) -> None:
    async with FakeGraphAPI(WHATSAPP_TOKEN, PHONE_ID) as graph:
        driver = WhatsAppDriver(graph)
        async with ChorusUnderTest(whatsapp_settings(database_url, graph.base_url)) as chorus:
            assert (await chorus.post(driver, body_of(text_message(AMIRA, "Hello"))))[0] == 200
            await chorus.channel("whatsapp").drained()
            seen = len(graph.to(AMIRA))
            graph.fail_next(502, times=10_000, html=True)
            assert (await chorus.post(driver, body_of(text_message(AMIRA, "yes"))))[0] == 200
            [copy] = await copies_kept(chorus.services.store)
            assert copy.channel == "whatsapp" and copy.status == "queued"
            assert copy.text.startswith(f"{LATE}\n\n") and "\n\n1. " in copy.text, copy.text
            assert copy.next_attempt_at > utc_now() + HOLD / 2  # not due while it waits

            graph.failures.clear()
            await chorus.channel("whatsapp").drained()
            assert await kept_in_outbox(chorus.services) == []
            sent = graph.to(AMIRA)[seen:]
            assert sent and not any(message.text.startswith(LATE) for message in sent)
            assert any(message.options for message in sent)  # its buttons, not numbers


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


async def test_a_telegram_reply_waiting_for_telegram_has_a_copy_until_it_is_sent(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """From the first failed try the replies have a copy in the outbox, due only HOLD
    later: this Chorus sends them itself once Telegram answers, and removes the copy."""
    caplog.set_level(logging.INFO, logger="bot")
    async with telegram_after_start(database_url) as (api, chorus, person):
        assert chorus.channel is not None and chorus.services is not None
        seen = len(api.chat(person.id))
        api.fail("sendMessage", 502, "Bad Gateway", times=10_000, html=True)
        asked = utc_now()
        assert await chorus.post(api.text_update(person, "yes")) == 200
        [copy] = await copies_kept(chorus.services.store)
        assert copy.status == "queued" and copy.text.startswith(f"{LATE}\n\n"), copy.text
        assert "\n\n1. " in copy.text, copy.text
        assert asked + HOLD <= copy.next_attempt_at <= utc_now() + HOLD
        dispatcher = OutboxDispatcher(chorus.services, {"telegram": chorus.channel})
        assert await dispatcher.run_once() == 0  # not due: this Chorus still sends it

        api.recover("sendMessage")
        await chorus.channel.drained()
        assert await kept_in_outbox(chorus.services) == []
        replies = api.chat(person.id)[seen:]
        texts = [message["text"] for message in replies]
        assert texts and len(texts) == len(set(texts)), texts  # each once
        assert not any(text.startswith(LATE) for text in texts), texts
        assert any(message.get("reply_markup") for message in replies)  # buttons kept
        assert "a copy is kept in the outbox meanwhile" in caplog.text


async def test_replies_queued_behind_a_waiting_send_get_their_copy_at_once(
    database_url: str,
) -> None:
    """A person writes again while their last reply waits for Telegram: the new replies
    wait behind it, so they are copied before they wait, not at their own first try."""
    async with telegram_after_start(database_url) as (api, chorus, person):
        assert chorus.channel is not None and chorus.services is not None
        seen = len(api.chat(person.id))
        api.fail("sendMessage", 502, "Bad Gateway", times=10_000, html=True)
        assert await chorus.post(api.text_update(person, "yes")) == 200
        await copies_kept(chorus.services.store)
        assert await chorus.post(api.text_update(person, "skip")) == 200
        first, second = await copies_kept(chorus.services.store, count=2)
        assert first.text != second.text
        assert min(first.next_attempt_at, second.next_attempt_at) > utc_now() + HOLD / 2

        api.recover("sendMessage")
        await chorus.channel.drained()
        assert await kept_in_outbox(chorus.services) == []
        texts = [message["text"] for message in api.chat(person.id)[seen:]]
        late = LATE + "\n\n"
        assert texts.index(first.text.removeprefix(late).split("\n\n")[0]) < texts.index(
            second.text.removeprefix(late).split("\n\n")[0]
        ), texts  # in the order they were answered


async def test_a_copy_survives_kill_9_and_goes_out_after_the_restart(
    database_url: str, store: Store, tmp_path: Path
) -> None:
    """`chorus run` waiting for Telegram is killed (SIGKILL, no chance to clean up): the
    copy kept at the first failed try is sent after the restart, once it is due."""
    person = User(new_user_id())
    async with FakeBotAPI(TELEGRAM_TOKEN) as api:
        settings = telegram_settings(database_url, api.base_url, mode="webhook")
        async with running_chorus(tmp_path, database_url, api.base_url) as port:
            url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
            async with aiohttp.ClientSession() as http:
                assert await post_update(http, url, api.text_update(person, "/start")) == 200
                await api.wait_for(lambda: len(api.chat(person.id)) > 0, 15)
                seen = len(api.chat(person.id))
                api.fail("sendMessage", 502, "Bad Gateway", times=10_000, html=True)
                assert await post_update(http, url, api.text_update(person, "yes")) == 200
                await copies_kept(store)  # read by this test, while `chorus run` waits
        assert len(api.chat(person.id)) == seen, "the fake was meant to be down"

        api.recover("sendMessage")
        async with ChorusWithTelegram(settings) as chorus:
            assert chorus.services is not None
            [copy] = await kept_in_outbox(chorus.services)
            assert copy.status == "queued" and copy.text.startswith(f"{LATE}\n\n"), copy.text
            dispatcher = OutboxDispatcher(chorus.services, {"telegram": chorus.channel})
            assert await dispatcher.run_once() == 0  # HOLD has not passed yet
            async with chorus.services.store.transaction() as unit:  # ... and now it has
                await unit.session.execute(
                    update(OutboxMessage).values(next_attempt_at=utc_now() - timedelta(seconds=1))
                )
            assert await dispatcher.run_once() == 1
            assert api.chat(person.id)[-1]["text"] == copy.text
            assert len(api.chat(person.id)) == seen + 1


@contextlib.asynccontextmanager
async def telegram_after_start(
    database_url: str,
) -> AsyncIterator[tuple[FakeBotAPI, ChorusWithTelegram, User]]:
    """The fake Bot API, Chorus on it by webhook, and a person who has sent /start and
    had the answer."""
    person = User(new_user_id())
    async with FakeBotAPI(TELEGRAM_TOKEN) as api:
        settings = telegram_settings(database_url, api.base_url, mode="webhook")
        async with ChorusWithTelegram(settings) as chorus:
            assert chorus.channel is not None
            assert await chorus.post(api.text_update(person, "/start")) == 200
            await chorus.channel.drained()
            yield api, chorus, person


async def copies_kept(store: Store, *, count: int = 1) -> list[OutboxMessage]:
    """The outbox once it holds `count` messages (a copy is kept at the first failed
    try), oldest first."""
    async with asyncio.timeout(15):
        while True:
            async with store.reader() as unit:
                found = list(
                    await unit.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
                )
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_chorus(tmp_path: Path, database_url: str, base_url: str) -> AsyncIterator[int]:
    """`python -m bot run` with its Telegram channel on the fake, by webhook; its port.
    Killed with SIGKILL when the block ends."""
    channels = {"telegram": {"mode": "webhook", "base_url": base_url, "public_url": PUBLIC_URL}}
    write_config(tmp_path / "config.yaml", channels=channels)
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "CHORUS_DATABASE_URL": database_url,
        "CHORUS_SECRET": TEST_SECRET,
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--port", "0",
        cwd=tmp_path, env=environment, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own group: the kill takes its worker processes too
    )  # fmt: skip
    assert process.stderr is not None
    log: list[str] = []
    try:
        port = None
        async with asyncio.timeout(60):
            while port is None and (line := (await process.stderr.readline()).decode()):
                log.append(line)
                if found := re.search(r"serving on http://127\.0\.0\.1:(\d+)", line):
                    port = int(found.group(1))
        assert port, "".join(log)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        assert process.returncode == -signal.SIGKILL, "".join(log)
