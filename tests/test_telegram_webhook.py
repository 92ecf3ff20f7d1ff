"""Webhook mode over real HTTP: the secret header, bodies that are not updates, replays,
and a store that cannot commit (503 until it is back, then applied once), on SQLite and
PostgreSQL. Polling mode gets the same outage: the update waits and is applied once."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from bot.channels import media
from bot.channels.telegram import create
from bot.channels.telegram.channel import WEBHOOK_PATH
from bot.config import ConfigError
from bot.services import open_services
from storage.database import Store
from storage.models import Contribution, FailedInbound, Participant, ProcessedMessage
from tests.channel_harness import ChannelCase, ChorusUnderTest, run_case
from tests.conftest import with_environ, with_section
from tests.fakes.outage import StoreOutage
from tests.fakes.telegram_bot_api import FakeBotAPI, User
from tests.telegram_harness import (
    TOKEN,
    WEBHOOK_SECRET,
    ChorusWithTelegram,
    TelegramPerson,
    new_user_id,
    telegram_settings,
)


async def _stored(store: Store) -> dict[str, int]:
    async with store.reader() as unit:
        counts = {}
        for name, model in (
            ("participants", Participant),
            ("processed", ProcessedMessage),
            ("contributions", Contribution),
            ("failed", FailedInbound),
        ):
            counts[name] = await unit.session.scalar(select(func.count()).select_from(model))
        return counts


async def test_a_valid_update_posted_three_times_is_stored_once(database_url: str) -> None:
    async with FakeBotAPI(TOKEN) as api:
        settings = telegram_settings(database_url, api.base_url, mode="webhook")
        async with ChorusWithTelegram(settings) as chorus:
            update = api.text_update(User(new_user_id()), "/start")
            assert [await chorus.post(update) for _ in range(3)] == [200, 200, 200]
            await api.wait_for_calls("sendMessage", 1)
            stored = await _stored(chorus.services.store)
            await chorus.channel.stop()  # waits for pending sends: nothing more comes
    # No participant row before consent (issue 16); the update's id is kept once.
    assert stored["participants"] == 0 and stored["processed"] == 1
    assert len(api.calls_of("sendMessage")) == 1


async def test_wrong_or_missing_secret_is_403_and_stores_nothing(database_url: str) -> None:
    async with FakeBotAPI(TOKEN) as api:
        settings = telegram_settings(database_url, api.base_url, mode="webhook")
        async with ChorusWithTelegram(settings) as chorus:
            update = api.text_update(User(new_user_id()), "/start")
            assert await chorus.post(update, secret="not-the-secret") == 403
            assert await chorus.post(update, secret=None) == 403
            assert await chorus.post(update, secret="") == 403
            assert await _stored(chorus.services.store) == {
                "participants": 0,
                "processed": 0,
                "contributions": 0,
                "failed": 0,
            }
    assert api.calls_of("sendMessage") == []


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe\x00",
        b"[1, 2, 3]",
        b'{"message": {"text": "no update_id"}}',
        b'{"update_id": "12"}',
        b'{"update_id": 12, "message": {"text": "no chat, no date"}}',
    ],
    ids=["broken-json", "not-utf8", "a-list", "no-update-id", "update-id-not-int", "bad-message"],
)
async def test_a_body_that_is_not_an_update_is_400(database_url: str, body: bytes) -> None:
    async with FakeBotAPI(TOKEN) as api:
        settings = telegram_settings(database_url, api.base_url, mode="webhook")
        async with ChorusWithTelegram(settings) as chorus:
            assert await chorus.post(body=body) == 400
            assert (await _stored(chorus.services.store))["processed"] == 0


async def test_store_unavailable_is_503_then_applied_once_on_telegrams_retry(
    database_url: str,
) -> None:
    async with FakeBotAPI(TOKEN) as api, StoreOutage(database_url) as outage:
        settings = outage.with_short_waits(
            telegram_settings(outage.url, api.base_url, mode="webhook")
        )
        store = Store.connect(outage.url, busy_seconds=outage.busy_seconds)
        async with ChorusWithTelegram(settings, store=store) as chorus:
            person = User(new_user_id())
            update = api.text_update(person, "/start")
            await outage.down()
            assert await chorus.post(update) == 503
            assert await chorus.post(update) == 503
            await outage.up()
            assert await chorus.post(update) == 200  # Telegram's retry
            assert await chorus.post(update) == 200  # and a stray duplicate
            await api.wait_for_calls("sendMessage", 1)
            stored = await _stored(chorus.services.store)
            await chorus.channel.stop()
    # The welcome keeps no participant row before consent (issue 16); its id once.
    assert stored == {"participants": 0, "processed": 1, "contributions": 0, "failed": 0}
    assert len(api.calls_of("sendMessage")) == 1
    assert "Do you agree to take part?" in api.calls_of("sendMessage")[0].params["text"]


async def test_polling_waits_for_the_store_and_applies_the_update_once(
    database_url: str,
) -> None:
    async with FakeBotAPI(TOKEN) as api, StoreOutage(database_url) as outage:
        settings = outage.with_short_waits(
            telegram_settings(outage.url, api.base_url, mode="polling")
        )
        store = Store.connect(outage.url, busy_seconds=outage.busy_seconds)
        async with ChorusWithTelegram(settings, store=store) as chorus:
            amira = TelegramPerson(api, User(new_user_id()), api.push)
            await amira.say("/start", expect="Do you agree")
            await outage.down()
            await api.push(api.text_update(amira.user, "yes"))
            # Polling pauses (updater stopped) while the update waits for the store.
            await api.wait_for(lambda: chorus.channel.status()["paused"])
            assert len(api.messages[amira.chat_id]) == 1
            # Resuming polling has to get past Telegram failing for a moment, too.
            api.fail("deleteWebhook", 502, "Bad Gateway", times=2)
            await outage.up()
            await amira.wait("Which best describes you?")
            await amira.say("skip", expect="Where do you live")
            assert chorus.channel.status()["paused"] is False
            stored = await _stored(chorus.services.store)
    assert stored["processed"] == 3 and stored["participants"] == 1
    assert len(api.calls_of("deleteWebhook")) == 1 + 2 + 1  # start, two failures, resumed


async def test_webhook_mode_needs_a_public_url_and_a_secret(database_url: str) -> None:
    settings = telegram_settings(database_url, "http://127.0.0.1:9/bot", mode="webhook")
    services = await open_services(settings, channel_media=media())
    try:
        for env, file, problem in (
            ({"TELEGRAM_WEBHOOK_SECRET": None}, {}, "TELEGRAM_WEBHOOK_SECRET"),
            ({"TELEGRAM_WEBHOOK_SECRET": "has spaces"}, {}, "TELEGRAM_WEBHOOK_SECRET may use"),
            ({}, {"public_url": None}, "public_url"),
            ({}, {"public_url": "http://insecure.example/hook"}, "public_url"),
        ):
            services.settings = with_section(with_environ(settings, **env), "telegram", **file)
            with pytest.raises(ConfigError, match=problem) as raised:
                create(services, None)
            assert TOKEN not in str(raised.value)
    finally:
        await services.close()


async def test_without_a_token_chorus_says_how_to_enable_telegram(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.conftest import make_settings
    from tests.running_chorus import chorus_server

    caplog.set_level("INFO")
    runtime = chorus_server(make_settings(database_url))
    await runtime.start()
    try:
        assert [c.name for c in runtime.channels] == ["web"]  # the form needs no token
    finally:
        await runtime.stop()
    lines = [r.getMessage() for r in caplog.records if "TELEGRAM_BOT_TOKEN" in r.getMessage()]
    assert lines == [
        "Telegram is off: set TELEGRAM_BOT_TOKEN (a token from @BotFather) to enable it"
    ]


async def test_polling_deletes_a_leftover_webhook_first(database_url: str) -> None:
    # Telegram refuses getUpdates (409) while a webhook is set, as the fake does.
    async with FakeBotAPI(TOKEN) as api:
        api.webhook = {"url": "https://old.example/hook"}
        settings = telegram_settings(database_url, api.base_url, mode="polling")
        async with ChorusWithTelegram(settings):
            person = TelegramPerson(api, User(new_user_id()), api.push)
            await person.say("/start", expect="Do you agree")
            assert api.webhook is None
    first, *_ = [c.method for c in api.calls if c.method in ("deleteWebhook", "getUpdates")]
    assert first == "deleteWebhook"


async def test_polling_applies_an_update_sent_again_after_a_restart_once(
    database_url: str,
) -> None:
    """Telegram sends an update again when its receipt was not confirmed (Chorus stopped
    before the next getUpdates); the restarted Chorus must not apply it twice."""
    async with FakeBotAPI(TOKEN) as api:
        settings = telegram_settings(database_url, api.base_url, mode="polling")
        person = User(new_user_id())
        idea = api.text_update(person, "/idea Evening physio clinics for working people")
        async with ChorusWithTelegram(settings) as chorus:
            amira = TelegramPerson(api, person, api.push)
            await amira.say("/start", expect="Do you agree")
            await amira.say("yes", expect="Which best describes you?")
            for question in ("Where do you live", "How old are you", "What would you like"):
                await amira.say("skip", expect=question)
            await api.push(idea)
            await amira.wait("Do you want news about your idea")
        sent = len(api.calls_of("sendMessage"))
        async with ChorusWithTelegram(settings) as chorus:
            await api.push(idea)  # the same update_id again
            await amira.say("/help", expect="Send IDEA")
            stored = await _stored(chorus.services.store)
    assert stored["contributions"] == 1 and stored["processed"] == 7
    assert len(api.calls_of("sendMessage")) == sent + 1  # only the answer to /help


# --- The webhook's answers, as a table of recorded updates run by the channel harness ---

AMIRA_ID = 5550001


def _update(update_id: int, content: dict, chat: dict | None = None) -> bytes:
    message = {
        "message_id": 17,
        "date": 1764579600,
        "from": {"id": AMIRA_ID, "is_bot": False, "first_name": "Amira"},
        "chat": chat or {"id": AMIRA_ID, "type": "private", "first_name": "Amira"},
        **content,
    }
    return json.dumps({"update_id": update_id, "message": message}).encode()


_COMMAND = [{"type": "bot_command", "offset": 0, "length": 6}]
_START = _update(912000001, {"text": "/start", "entities": _COMMAND})
_STICKER = {
    "sticker": {
        "file_id": "CAACAgIAAxkBAAIBQ2",
        "file_unique_id": "AgADQ2",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
}
_GROUP = {"id": -100123, "type": "supergroup", "title": "Physios"}

TELEGRAM_CASES = [
    ChannelCase(
        "/start in a private chat",
        _START,
        200,
        text="Do you agree to take part?",
        sender=str(AMIRA_ID),
        external_id="912000001",
        makes_person=False,  # answered, but no row before consent (issue 16)
    ),
    ChannelCase("a wrong secret token", _START, 403, signer="forged", sender=str(AMIRA_ID)),
    ChannelCase("no secret token", _START, 403, signer="none", external_id="912000001"),
    ChannelCase("not JSON", b"update_id=1", 400),
    ChannelCase("JSON that is not an update", json.dumps({"ok": True}).encode(), 400),
    ChannelCase(
        "a sticker gets a request for text",
        _update(912000002, _STICKER),
        200,
        text="I can only read text",
        sender=str(AMIRA_ID),
        makes_person=False,
    ),
    ChannelCase(
        "a command in a group keeps nothing",
        _update(912000003, {"text": "hello"}, chat=_GROUP),
        200,
        sender=str(AMIRA_ID),
        makes_person=False,
    ),
    ChannelCase("an oversized body", b"{" + b" " * (300 * 1024) + b"}", 413),
]


class TelegramDriver:
    """How the harness signs Telegram's webhook (the secret token header) and reads what
    the fake Bot API was asked to send."""

    channel = "telegram"
    path = WEBHOOK_PATH

    def __init__(self, api: FakeBotAPI) -> None:
        self.api = api

    def sign(self, url: str, body: bytes, signer: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if signer != "none":
            secret = WEBHOOK_SECRET if signer == "valid" else "a-guessed-secret"
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        return headers

    async def replies(self, chorus: ChorusUnderTest, answer: str, sender: str) -> list[str]:
        await chorus.channel("telegram").drained()
        return [message.get("text", "") for message in self.api.chat(int(sender))]


@pytest.mark.parametrize("case", TELEGRAM_CASES, ids=[case.label for case in TELEGRAM_CASES])
async def test_webhook_answers(case: ChannelCase, database_url: str) -> None:
    async with FakeBotAPI(TOKEN) as api:
        settings = telegram_settings(database_url, api.base_url, mode="webhook")
        async with ChorusUnderTest(settings) as chorus:
            await run_case(chorus, TelegramDriver(api), case)
