"""Sending to Telegram over real HTTP: rate limits and network errors are retried, a
person who blocked the bot is marked unreachable and not retried, `deliver` reports the
typed errors, attachments go as photos or documents, long texts are split, the command
menus are registered (and their failure does not stop Chorus), and the bot token never
appears in an error or a log line."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.channels import check_sections, declarations
from bot.channels.base import BadRequest, ContactStopped, SendError, Throttled
from bot.channels.telegram.render import keyboard, plan, split_text
from bot.config import ConfigError
from handlers.types import Attachment, Choice, Reply
from tests.fakes.telegram_bot_api import FakeBotAPI, User, keyboard_rows
from tests.people import Person
from tests.telegram_harness import (
    TOKEN,
    WEBHOOK_SECRET,
    ChorusWithTelegram,
    TelegramPerson,
    new_user_id,
    telegram_settings,
)

BLOCKED = "Forbidden: bot was blocked by the user"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
async def api():
    async with FakeBotAPI(TOKEN) as fake:
        yield fake


def _settings(database_url: str, api: FakeBotAPI, **overrides):
    return telegram_settings(database_url, api.base_url, mode="webhook", **overrides)


async def _join(chorus: ChorusWithTelegram, api: FakeBotAPI) -> TelegramPerson:
    async def deliver(update: dict) -> None:
        assert await chorus.post(update) == 200

    person = TelegramPerson(api, User(new_user_id()), deliver)
    await person.say("/start", expect="Do you agree")
    await person.say("yes", expect="Which best describes you?")
    for question in ("Where do you live", "How old are you", "What would you like to do?"):
        await person.say("skip", expect=question)
    return person


async def _unreachable(chorus: ChorusWithTelegram, person: TelegramPerson) -> bool:
    pseudonym = chorus.services.engine.pseudonym("telegram", str(person.user.id))
    async with chorus.services.store.reader() as unit:
        return (await unit.participants.find(pseudonym, lock=False)).unreachable


async def test_rate_limits_and_network_errors_are_retried(database_url: str, api) -> None:
    async with ChorusWithTelegram(_settings(database_url, api)) as chorus:
        person = await _join(chorus, api)
        api.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
        await person.say("/help", expect="Send IDEA to add an idea")
        api.fail("sendMessage", drop_connection=True, times=2)
        await person.say("/mydata", expect="We hold this about you")
    attempts = [c.params.get("text", "") for c in api.calls_of("sendMessage")]
    assert sum("Send IDEA to add an idea" in t for t in attempts) == 2  # refused once, then sent
    assert sum("We hold this about you" in t for t in attempts) == 3  # two dropped, then sent
    shown = [m["text"] for m in person.messages()]
    # MYDATA is followed by the menu, as every completed action is.
    assert len(shown) == 5 + 1 + 2 and len(attempts) == 5 + 2 + 3 + 1


async def test_a_person_who_blocked_the_bot_is_marked_unreachable_not_retried(
    database_url: str, api
) -> None:
    async with ChorusWithTelegram(_settings(database_url, api)) as chorus:
        person = await _join(chorus, api)
        sent_before = len(api.calls_of("sendMessage"))
        api.fail("sendMessage", 403, BLOCKED, times=10)
        # An idea gets two replies (saved, and the offer of news): only one is tried.
        assert await chorus.post(api.text_update(person.user, "/idea Physio on call")) == 200
        await chorus.channel.stop()  # waits until the replies are settled
        assert await _unreachable(chorus, person) is True
    assert len(api.calls_of("sendMessage")) == sent_before + 1


async def test_deliver_reports_typed_errors(database_url: str, api) -> None:
    async with ChorusWithTelegram(_settings(database_url, api)) as chorus:
        channel = chorus.channel
        person = await _join(chorus, api)
        address = str(person.chat_id)
        api.fail("sendMessage", 429, "Too Many Requests", retry_after=1, times=2)
        with pytest.raises(Throttled) as throttled:
            await channel.deliver(address, [Reply("news")])
        assert throttled.value.retry_after == 1.0
        api.fail("sendMessage", 400, "Bad Request: message text is empty")
        with pytest.raises(BadRequest):
            await channel.deliver(address, [Reply("news")])
        api.fail("sendMessage", drop_connection=True, times=4)
        with pytest.raises(SendError) as network:
            await channel.deliver(address, [Reply("news")])
        with pytest.raises(BadRequest):
            await channel.deliver("not-a-chat", [Reply("news")])
        api.fail("sendMessage", 403, BLOCKED)
        with pytest.raises(ContactStopped):
            await channel.deliver(address, [Reply("news")])
        assert await _unreachable(chorus, person) is True
        await channel.deliver(address, [Reply("news at last")])
    assert TOKEN not in str(network.value)
    assert api.chat(person.chat_id)[-1]["text"] == "news at last"


async def test_attachments_go_as_photos_and_documents(database_url: str, api) -> None:
    chat_id = new_user_id()
    async with ChorusWithTelegram(_settings(database_url, api)) as chorus:
        await chorus.channel.deliver(
            str(chat_id),
            [
                Reply("Votes by region", attachment=Attachment("chart.png", PNG, "image/png")),
                Reply(
                    "Your export is ready.",
                    attachment=Attachment("ideas.csv", b"id,text\n1,Parking\n", "text/csv"),
                ),
            ],
        )
    (photo,) = api.calls_of("sendPhoto")
    assert photo.files["photo"] == ("chart.png", PNG)
    assert photo.params["caption"] == "Votes by region"
    (document,) = api.calls_of("sendDocument")
    assert document.files["document"] == ("ideas.csv", b"id,text\n1,Parking\n")
    assert document.params["caption"] == "Your export is ready."
    assert api.calls_of("sendMessage") == []


async def test_a_failed_edit_shows_the_next_idea_as_a_new_message(database_url: str, api) -> None:
    async with ChorusWithTelegram(_settings(database_url, api)) as chorus:
        author = Person(chorus.services.engine, "author")
        await author.join()
        for idea in ("More physios in GP surgeries", "Podiatry clinics on Saturdays"):
            await author.say(f"/idea {idea}")
            await author.say("no")
        person = await _join(chorus, api)
        await person.press("Vote on ideas", expect="Idea ")
        api.fail("editMessageText", 400, "Bad Request: message can't be edited")
        await person.press("Agree", expect="Idea ")
        messages = person.messages()
    assert messages[-1]["text"] != messages[-2]["text"]
    assert keyboard_rows(messages[-1]) and not keyboard_rows(messages[-2])


async def test_command_menus_for_participants_and_team(database_url: str, api) -> None:
    team = [{"telegram_id": 4242, "role": "admin", "name": "Lead"}]
    async with ChorusWithTelegram(_settings(database_url, api, team=team)):
        calls = api.calls_of("setMyCommands")
    menus = {
        (
            c.params["scope"]["type"],
            c.params["scope"].get("chat_id"),
            c.params.get("language_code"),
        ): {entry["command"]: entry["description"] for entry in c.params["commands"]}
        for c in calls
    }
    participant = menus[("all_private_chats", None, None)]
    assert list(participant) == ["start", "idea", "vote", "comment", "mydata", "forget", "help"]
    assert participant["idea"] == "Share your idea"
    assert menus[("all_private_chats", None, "cy")]["idea"] == "Rhannu eich syniad"
    team_menu = menus[("chat", 4242, None)]
    assert list(team_menu)[:7] == list(participant)
    assert {
        "summary",
        "top",
        "controversial",
        "consensus",
        "themes",
        "similar",
        "reach",
        "pending",
        "export",
        "chart",
    } <= set(team_menu)
    assert all(description for description in team_menu.values())
    assert ("chat", 4242, "cy") in menus
    assert ("all_private_chats", None, "pl") not in menus  # no Polish translation yet


async def test_chorus_starts_when_set_my_commands_fails(
    database_url: str, api, caplog: pytest.LogCaptureFixture
) -> None:
    api.fail("setMyCommands", 404, "Not Found", times=20)  # as telegram-test-api does
    async with ChorusWithTelegram(_settings(database_url, api, team=[])) as chorus:
        person = TelegramPerson(api, User(new_user_id()), chorus.post)
        assert await chorus.post(api.text_update(person.user, "/start")) == 200
        await person.wait("Do you agree")
    warnings = [r for r in caplog.records if "setMyCommands failed" in r.getMessage()]
    assert warnings and all(r.levelno == logging.WARNING for r in warnings)


async def test_a_refused_token_is_a_config_error_without_the_token(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeBotAPI("other-token") as api:
        with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN was refused") as refused:
            async with ChorusWithTelegram(_settings(database_url, api)):
                pass
    assert TOKEN not in str(refused.value) and TOKEN not in caplog.text


async def test_chorus_keeps_trying_while_telegram_cannot_be_reached(
    database_url: str, api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.fail("getMe", drop_connection=True, times=4)
    settings = telegram_settings(database_url, api.base_url, mode="polling")
    async with ChorusWithTelegram(settings) as chorus:
        # Started all the same: not up yet, saying why, once, without the token.
        status = chorus.channel.status()
        assert status["running"] is False and "cannot be reached" in status["waiting"]
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert [r.name for r in warnings] == ["bot.channels.telegram.channel"]
        assert "keeps trying" in warnings[0].getMessage()
        await asyncio.wait_for(chorus.channel.up.wait(), 10)
        assert chorus.channel.status()["running"] is True
        assert "waiting" not in chorus.channel.status()
        assert chorus.channel.status()["sends_per_second"] == 30  # one worker: all of it
        assert len(api.calls_of("getMe")) == 5
        person = TelegramPerson(api, User(new_user_id()), api.push)
        await person.say("/start", expect="Do you agree")
    assert TOKEN not in caplog.text


async def test_a_webhook_posted_while_telegram_comes_up_waits_for_it(
    database_url: str, api
) -> None:
    """After a restart Telegram posts what it holds at once, before the channel is up
    (getMe, the menu, setWebhook): the update waits for it instead of a 503."""
    api.fail("getMe", drop_connection=True, times=2)  # up at the second retry, 0.15 s on
    # Waiting as long as chorus run does: a busy machine may take more than the harness's
    # half second to come up.
    async with ChorusWithTelegram(_settings(database_url, api), coming_up_seconds=5) as chorus:
        assert chorus.channel is not None and not chorus.channel.up.is_set()
        person = User(new_user_id())
        assert await chorus.post(api.text_update(person, "/start")) == 200
        await chorus.channel.drained()
        assert "Do you agree" in api.chat(person.id)[-1]["text"]


async def test_a_webhook_posted_before_telegram_is_up_is_answered_503(
    database_url: str, api
) -> None:
    api.fail("getMe", drop_connection=True, times=1000)
    async with ChorusWithTelegram(_settings(database_url, api)) as chorus:
        person = TelegramPerson(api, User(new_user_id()), chorus.post)
        assert await chorus.post(api.text_update(person.user, "/start")) == 503
        assert await chorus.post(api.text_update(person.user, "/start"), secret="no") == 403


def test_a_base_url_without_its_path_is_a_config_error(database_url: str) -> None:
    # The token is appended to base_url: without "/bot" httpx would read its secret half
    # (after the colon) as a port number, and quote it alone in the error.
    # Checked by the channel's own model when Chorus starts.
    for wrong in ("http://localhost", "localhost:8081/bot", "ftp://example.org/bot"):
        settings = telegram_settings(database_url, wrong, mode="polling")
        with pytest.raises(ConfigError, match="channels.telegram.base_url") as failed:
            check_sections(settings, declarations())
        assert "the token is appended" in str(failed.value)


async def test_the_token_never_reaches_the_logs(
    database_url: str, api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = telegram_settings(database_url, api.base_url, mode="polling")
    async with ChorusWithTelegram(settings) as chorus:
        person = TelegramPerson(api, User(new_user_id()), api.push)
        api.fail("sendMessage", drop_connection=True)
        api.fail("answerCallbackQuery", 400, "Bad Request: query is too old")
        await person.say("/start", expect="Do you agree")
        await person.press("Yes", expect="Which best describes you?")
        api.fail("sendMessage", 403, BLOCKED, times=3)
        with pytest.raises(ContactStopped):
            await chorus.channel.deliver(str(person.chat_id), [Reply("hello")])
    assert "getUpdates" in caplog.text  # the request URLs were logged, without the token
    assert TOKEN not in caplog.text


def test_keyboards_put_short_labels_side_by_side() -> None:
    def shape(labels: list[str]) -> list[int]:
        markup = keyboard([Choice(label, f"p:{n}") for n, label in enumerate(labels)])
        return [len(row) for row in markup.inline_keyboard]

    assert shape(["Yes", "No"]) == [2]
    assert shape(["Agree", "Disagree", "Skip", "More"]) == [3, 1]
    assert shape(["Share an idea", "Vote on ideas", "Comment on an idea", "Help"]) == [2, 2]
    assert shape(["Operating department practitioner", "Orthoptist"]) == [1, 1]
    assert keyboard([]) is None


def test_long_texts_are_split_with_the_buttons_on_the_last_piece() -> None:
    text = "\n".join(f"Idea {n}: " + "word " * 30 for n in range(60))
    pieces = split_text(text)
    assert len(pieces) == 3 and all(len(piece) <= 4096 for piece in pieces)
    assert "".join(p.replace("\n", "") for p in pieces) == text.replace("\n", "")
    assert split_text("x" * 5000) == ["x" * 4096, "x" * 904]
    operations = plan([Reply(text, choices=(Choice("OK", "menu:help"),))])
    assert [op.keyboard is not None for op in operations] == [False, False, True]


def test_a_press_edits_the_card_or_clears_the_pressed_keyboard() -> None:
    card = Reply(
        "Idea 2: Parking", choices=(Choice("Agree", "vote:2:agree"),), replaces_previous=True
    )
    (edit,) = plan([card], pressed_message_id=7)
    assert type(edit).__name__ == "EditText" and edit.message_id == 7
    clear, send = plan([Reply("Thanks")], pressed_message_id=7)
    assert type(clear).__name__ == "ClearKeyboard" and type(send).__name__ == "SendText"
    (send,) = plan([card])  # not a press: a new message
    assert type(send).__name__ == "SendText"


async def test_the_webhook_secret_never_reaches_the_logs(
    database_url: str, api, caplog: pytest.LogCaptureFixture
) -> None:
    # PTB logs every call's parameters at DEBUG, setWebhook's secret_token among them.
    caplog.set_level(logging.DEBUG)
    async with ChorusWithTelegram(_settings(database_url, api)) as chorus:
        person = TelegramPerson(api, User(new_user_id()), chorus.post)
        assert await chorus.post(api.text_update(person.user, "/start")) == 200
        await person.wait("Do you agree")
    assert api.calls_of("setWebhook")[0].params["secret_token"] == WEBHOOK_SECRET
    assert "setWebhook" in caplog.text
    assert WEBHOOK_SECRET not in caplog.text and TOKEN not in caplog.text


async def test_a_logged_traceback_does_not_show_the_token(
    database_url: str, api, caplog: pytest.LogCaptureFixture
) -> None:
    """A proxy in front of the Bot API may quote the request URL, token and all, in its
    error; PTB logs that error with its traceback, and Chorus keeps trying to start."""
    caplog.set_level(logging.DEBUG)
    quoted = f"Bad Gateway: upstream {api.base_url}{TOKEN}/deleteWebhook timed out"
    api.fail("deleteWebhook", 502, quoted, times=5)  # the first try retries 3 times
    settings = telegram_settings(database_url, api.base_url, mode="polling")
    async with ChorusWithTelegram(settings) as chorus:
        await asyncio.wait_for(chorus.channel.up.wait(), 10)
    (warning,) = [r for r in caplog.records if "keeps trying" in r.getMessage()]
    assert "polling could not start" in warning.getMessage()
    assert "Bad Gateway: upstream" in warning.getMessage()
    assert any(r.exc_info for r in caplog.records if "Bootstrap" in r.getMessage())
    assert TOKEN not in caplog.text
