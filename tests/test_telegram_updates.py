"""Telegram updates as data (in the manner of courier's channel tests): each row is a real
update shape, posted to the webhook; the row says what the bot must send back and what
the store must hold afterwards. Run on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from storage.models import Contribution, Participant, ProcessedMessage
from tests.fakes.telegram_bot_api import FakeBotAPI, User, button_labels, keyboard_rows
from tests.telegram_harness import TOKEN, ChorusWithTelegram, telegram_settings

PERSON = User(5_551_234, "Amira", "en")
GROUP = {"id": -100123, "type": "supergroup", "title": "AHP leads"}
PHOTO = [{"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 90}]
ASK_FOR_TEXT = "Sorry, I can only read text"


@dataclass(frozen=True)
class Row:
    label: str
    update: Callable[[FakeBotAPI], dict]
    replies: tuple[str, ...]  # texts the bot sends, in order ("" = none)
    participants: int = 0
    processed: int = 0
    contributions: int = 0


def _media(content: dict) -> Callable[[FakeBotAPI], dict]:
    return lambda api: api.message_update(PERSON, content)


ROWS = [
    # A welcome keeps no participant row before consent, only the update's id (issue 16).
    Row("start", lambda api: api.text_update(PERSON, "/start"), ("Welcome to",), 0, 1),
    Row(
        "photo with a caption is text",
        _media({"photo": PHOTO, "caption": "/start"}),
        ("Welcome to",),
        0,
        1,
    ),
    Row("photo", _media({"photo": PHOTO}), (ASK_FOR_TEXT,), 0, 1),
    Row(
        "sticker",
        _media(
            {
                "sticker": {
                    "file_id": "s",
                    "file_unique_id": "s",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                    "type": "regular",
                }
            }
        ),
        (ASK_FOR_TEXT,),
        0,
        1,
    ),
    Row(
        "voice note",
        _media({"voice": {"file_id": "v", "file_unique_id": "v", "duration": 3}}),
        (ASK_FOR_TEXT,),
        0,
        1,
    ),
    Row(
        "document",
        _media({"document": {"file_id": "d", "file_unique_id": "d", "file_name": "idea.pdf"}}),
        (ASK_FOR_TEXT,),
        0,
        1,
    ),
    Row(
        "command in a group",
        lambda api: api.text_update(PERSON, "/start@ChorusTestBot", chat=GROUP),
        ("Please message me in a private chat",),
    ),
    Row("text in a group", lambda api: api.text_update(PERSON, "My idea", chat=GROUP), ()),
    Row(
        "edited message",
        lambda api: {
            "update_id": api.next_update_id(),
            "edited_message": {
                **api.text_update(PERSON, "edited")["message"],
                "edit_date": 1764579999,
            },
        },
        (),
    ),
    Row(
        "channel post",
        lambda api: {
            "update_id": api.next_update_id(),
            "channel_post": {
                "message_id": 3,
                "date": 1764579999,
                "chat": {"id": -100777, "type": "channel", "title": "News"},
                "text": "hello",
            },
        },
        (),
    ),
    Row(
        "an update type from the future",
        lambda api: {"update_id": api.next_update_id(), "purchased_stars": {"amount": 5}},
        (),
    ),
    Row("blocked before ever joining", lambda api: api.blocked_update(PERSON), ()),
    # Rejected before any transaction (the engine's choice), so the replay gets the same
    # note again; nothing is stored either time.
    Row(
        "very long text",
        lambda api: api.text_update(PERSON, "idea " * 1000),
        ("Your message is too long", "Your message is too long"),
    ),
    Row(
        "odd unicode",
        lambda api: api.text_update(PERSON, "\u202e\u200b\U0001f600 \ufeff"),
        ("Welcome to",),
        0,
        1,
    ),
]


async def _counts(store) -> tuple[int, int, int]:
    async with store.reader() as unit:
        session = unit.session
        return (
            await session.scalar(select(func.count()).select_from(Participant)),
            await session.scalar(select(func.count()).select_from(ProcessedMessage)),
            await session.scalar(select(func.count()).select_from(Contribution)),
        )


@pytest.mark.parametrize("row", ROWS, ids=[row.label for row in ROWS])
async def test_update(database_url: str, row: Row) -> None:
    async with FakeBotAPI(TOKEN) as api:
        settings = telegram_settings(database_url, api.base_url, mode="webhook")
        async with ChorusWithTelegram(settings) as chorus:
            update = row.update(api)
            assert await chorus.post(update) == 200
            assert await chorus.post(update) == 200  # a replay changes nothing
            await chorus.channel.stop()  # waits until every reply is sent
            counts = await _counts(chorus.services.store)
    sent = api.calls_of("sendMessage", "editMessageText", "sendPhoto", "sendDocument")
    assert len(sent) == len(row.replies)
    for call, expected in zip(sent, row.replies, strict=True):
        assert call.params["text"].startswith(expected), call.params["text"]
    assert counts == (row.participants, row.processed, row.contributions)


async def test_group_note_links_to_the_private_chat_and_answers_the_command(
    database_url: str,
) -> None:
    async with FakeBotAPI(TOKEN) as api:
        settings = telegram_settings(database_url, api.base_url, mode="webhook")
        async with ChorusWithTelegram(settings) as chorus:
            update = api.text_update(PERSON, "/idea Parking", chat=GROUP)
            assert await chorus.post(update) == 200
            (note,) = await api.wait_for_calls("sendMessage", 1)
    assert note.chat_id == GROUP["id"]
    assert note.params["reply_parameters"]["message_id"] == update["message"]["message_id"]
    (button,) = keyboard_rows(note.params)[0]
    assert button["url"] == "https://t.me/ChorusTestBot"


async def test_blocking_marks_unreachable_and_writing_again_undoes_it(database_url: str) -> None:
    async with FakeBotAPI(TOKEN) as api:
        settings = telegram_settings(database_url, api.base_url, mode="webhook")
        async with ChorusWithTelegram(settings) as chorus:
            engine = chorus.services.engine
            pseudonym = engine.pseudonym("telegram", str(PERSON.id))

            async def unreachable() -> bool:
                async with chorus.services.store.reader() as unit:
                    return (await unit.participants.find(pseudonym, lock=False)).unreachable

            assert await chorus.post(api.text_update(PERSON, "/start")) == 200
            assert await chorus.post(api.text_update(PERSON, "yes")) == 200  # a row from here
            assert await chorus.post(api.blocked_update(PERSON)) == 200
            assert await unreachable() is True
            assert await chorus.post(api.blocked_update(PERSON, blocked=False)) == 200
            assert await unreachable() is False
            assert await chorus.post(api.blocked_update(PERSON)) == 200
            assert await chorus.post(api.text_update(PERSON, "yes")) == 200
            assert await unreachable() is False


async def test_a_press_on_a_group_message_is_answered_and_ignored(database_url: str) -> None:
    async with FakeBotAPI(TOKEN) as api:
        settings = telegram_settings(database_url, api.base_url, mode="webhook")
        async with ChorusWithTelegram(settings) as chorus:
            message = {"message_id": 9, "date": 1764579999, "chat": GROUP, "text": "old"}
            assert await chorus.post(api.press_update(PERSON, message, "consent:yes")) == 200
            await api.wait_for_calls("answerCallbackQuery", 1)
            counts = await _counts(chorus.services.store)
    assert counts == (0, 0, 0)
    assert api.calls_of("sendMessage") == []


async def test_a_long_payload_button_works_by_its_number(database_url: str) -> None:
    """Gateway option keys may be longer than Telegram's 64-byte callback_data; such a
    button carries its number, read as typing that number."""
    long_key = "a-very-long-option-key-" + "x" * 40
    gateway = [
        {
            "key": "role",
            "prompt": "Which best describes you?",
            "options": [
                {"key": "patient", "label": "Patient"},
                {"key": long_key, "label": "Someone with a long key"},
            ],
        }
    ]
    async with FakeBotAPI(TOKEN) as api:
        settings = telegram_settings(
            database_url,
            api.base_url,
            mode="webhook",
            gateway=gateway,
            representation_targets={},
        )
        async with ChorusWithTelegram(settings) as chorus:
            for text in ("/start", "yes"):
                assert await chorus.post(api.text_update(PERSON, text)) == 200
            question = (await api.wait_for_calls("sendMessage", 2))[-1]
            labels = button_labels(question.params)
            data = [b["callback_data"] for row in keyboard_rows(question.params) for b in row]
            assert labels == ["Patient", "Someone with a long key", "Prefer not to say"]
            assert data[:2] == ["gw:role:patient", "n:2"]
            message = api.chat(PERSON.id)[-1]
            assert await chorus.post(api.press_update(PERSON, message, "n:2")) == 200
            async with chorus.services.store.reader() as unit:
                pseudonym = chorus.services.engine.pseudonym("telegram", str(PERSON.id))
                person = await unit.participants.find(pseudonym, lock=False)
    assert person.answers == {"role": long_key}
