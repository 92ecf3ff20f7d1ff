"""The Telegram journey as people live it, over real HTTP: Chorus (`Runtime`, as `chorus
run` starts it) talks to a fake Bot API, in polling and in webhook mode, on SQLite and
PostgreSQL.

One person starts, consents and answers the gateway questions by button and shares
ideas; a second person joins by button, votes through five ideas by button (each press
edits the card to the next idea, so the chat does not fill up), asks for MYDATA and
FORGETs. The test checks what the Bot API received and what the store holds.
"""

from __future__ import annotations

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.channels.telegram.channel import WEBHOOK_PATH
from bot.runtime import Runtime
from storage.models import Contribution, Participant, ProcessedMessage, Vote
from tests.fakes.telegram_bot_api import FakeBotAPI, User, button_data, button_labels
from tests.running_chorus import chorus_server
from tests.telegram_harness import (
    PUBLIC_URL,
    TOKEN,
    WEBHOOK_SECRET,
    TelegramPerson,
    new_user_id,
    post_update,
    telegram_settings,
)

IDEAS = (
    "Physios in every GP surgery would cut waiting times",
    "Longer appointments for people recovering from a stroke",
    "Let dietitians refer patients straight to specialists",
    "Free parking for carers who bring patients to therapy",
    "Speech therapy by video call for people in rural areas",
)


async def _count(store, model, *where) -> int:
    async with store.reader() as unit:
        query = select(func.count()).select_from(model)
        for condition in where:
            query = query.where(condition)
        return await unit.session.scalar(query)


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_two_people_take_part_by_buttons(database_url: str, mode: str) -> None:
    async with FakeBotAPI(TOKEN) as api, aiohttp.ClientSession() as http:
        runtime = chorus_server(telegram_settings(database_url, api.base_url, mode=mode))
        await runtime.start()
        try:
            webhook = f"http://127.0.0.1:{runtime.port}{WEBHOOK_PATH}"

            delivered: list[dict] = []

            async def deliver(update: dict) -> None:
                delivered.append(update)
                if mode == "polling":
                    await api.push(update)
                else:
                    assert await post_update(http, webhook, update) == 200

            await _journey(api, runtime, deliver)
            presses = [u for u in delivered if "callback_query" in u]
            assert len(presses) == 17
            # Every press was answered, each exactly once (the button stops spinning).
            answered = await api.wait_for_calls("answerCallbackQuery", len(presses))
            assert sorted(int(c.params["callback_query_id"]) for c in answered) == sorted(
                int(u["callback_query"]["id"]) for u in presses
            )
            # Every update was recorded once, by its update_id.
            assert await _count(
                runtime.services.store, ProcessedMessage, ProcessedMessage.channel == "telegram"
            ) == len(delivered)
            if mode == "polling":
                assert api.calls_of("deleteWebhook") and not api.calls_of("setWebhook")
            else:
                (registered,) = api.calls_of("setWebhook")
                assert registered.params["url"] == PUBLIC_URL
                assert registered.params["secret_token"] == WEBHOOK_SECRET
                assert set(registered.params["allowed_updates"]) >= {"message", "callback_query"}
        finally:
            await runtime.stop()


async def _journey(api: FakeBotAPI, runtime: Runtime, deliver) -> None:
    store = runtime.services.store
    amira = TelegramPerson(api, User(new_user_id(), "Amira"), deliver)
    ben = TelegramPerson(api, User(new_user_id(), "Ben"), deliver)

    # The command menu was registered at start.
    menu = api.calls_of("setMyCommands")[0].params
    assert [c["command"] for c in menu["commands"]] == [
        "start",
        "idea",
        "vote",
        "comment",
        "mydata",
        "forget",
        "help",
    ]

    # Amira: /start, consent and the gateway questions, all by button.
    await amira.say("/start", expect="Do you agree to take part?")
    assert button_labels(amira.messages()[-1]) == ["Yes", "No"]
    await amira.press("Yes", expect="Which best describes you?")
    await amira.press("Allied health professional", expect="Which allied health job do you do?")
    assert len(button_labels(amira.messages()[-1])) == 15
    assert button_labels(amira.messages()[-1])[-1] == "Prefer not to say"
    await amira.press("Physiotherapist", expect="Where do you live or work?")
    await amira.press("London", expect="How old are you?")
    await amira.press("35 to 44", expect="What would you like to do?")
    assert button_labels(amira.messages()[-1])[:2] == ["Share an idea", "Vote on ideas"]
    # Only the newest question keeps its buttons.
    assert [m for m in amira.messages()[:-1] if button_labels(m)] == []

    # Her ideas: the first one by /idea, the others as plain text at the menu.
    await amira.say(f"/idea {IDEAS[0]}", expect="Do you want news about your idea")
    await amira.press("No", expect="We will not send you news")
    for number, idea in enumerate(IDEAS[1:], 2):
        await amira.say(idea, expect=f"saved as idea {number}")

    # Ben joins by button and votes through the five ideas by button.
    await ben.say("/start", expect="Do you agree to take part?")
    await ben.press("Yes", expect="Which best describes you?")
    await ben.press("Patient", expect="Where do you live or work?")
    await ben.press("Wales", expect="How old are you?")
    await ben.press("65 to 74", expect="What would you like to do?")
    await ben.press("Vote on ideas", expect="Idea ")
    card = ben.messages()[-1]
    assert button_labels(card) == ["\U0001f44d Agree", "\U0001f44e Disagree", "Skip"]
    sent_before_voting = len(ben.messages())
    seen, cast = set(), {}
    for vote in range(1, 6):
        shown = api.messages[ben.chat_id][card["message_id"]]
        seen.add(shown["text"])
        label = "Agree" if vote % 2 else "Disagree"
        _, idea_id, _ = button_data(shown, label).split(":")
        cast[int(idea_id)] = 1 if label == "Agree" else -1
        if vote < 5:
            await ben.press(label, edits=vote)
        else:
            await ben.press(label, expect="You have seen all the ideas")
    assert len(seen) == 5  # five different ideas, shown on one card
    # Four presses edited the card itself; the last cleared its buttons.
    assert {edit.params["message_id"] for edit in ben.edits()} == {card["message_id"]}
    assert len(ben.edits()) == 4
    # Only "seen all" was new (the menu after it came as its buttons).
    assert len(ben.messages()) == sent_before_voting + 1
    assert button_labels(api.messages[ben.chat_id][card["message_id"]]) == []
    # Each press voted, as pressed, for the idea its card showed.
    async with store.reader() as unit:
        votes = dict((await unit.session.execute(select(Vote.contribution_id, Vote.value))).all())
    assert votes == cast and sorted(votes.values()) == [-1, -1, 1, 1, 1]
    async with store.reader() as unit:
        texts = await unit.session.scalars(
            select(Contribution.text).where(Contribution.channel == "telegram")
        )
        assert sorted(texts) == sorted(IDEAS)
    async with store.reader() as unit:
        people = {p.role: p for p in await unit.session.scalars(select(Participant))}
    assert people["physiotherapist"].region == "london"
    assert people["physiotherapist"].age_band == "35-44"
    assert people["patient"].region == "wales"
    assert all(str(u.user.id) not in p.pseudonym for p in people.values() for u in (amira, ben))
    assert {p.pseudonym for p in people.values()} == {
        runtime.services.engine.pseudonym("telegram", str(person.user.id))
        for person in (amira, ben)
    }

    # MYDATA, then FORGET by button.
    await ben.say("MYDATA", expect="We hold this about you")
    assert "votes: 5" in ben.last_text() and "Patient, Wales, 65 to 74" in ben.last_text()
    await ben.say("FORGET", expect="This deletes your ideas")
    await ben.press("Yes", expect="We have deleted your data")
    assert await _count(store, Vote) == 0
    assert await _count(store, Participant) == 1
    # MYDATA and HELP after FORGET are answered and create nothing.
    await ben.say("MYDATA", expect="We hold nothing about you yet")
    await ben.say("HELP", expect="MYDATA")
    assert await _count(store, Participant) == 1
