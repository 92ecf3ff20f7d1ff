""" "Is your idea like one of these?" on Telegram, over the webhook, as `chorus run` starts
Chorus (its alike indexes warming after it listens): the offer comes with one button per
alike idea and "Mine is different"; pressing an idea's button records an agree vote and
stores no idea; "Mine is different" stores the idea as typed; an idea that says the
opposite of a stored one ("Fewer physios" against "More physios") gets no offer."""

from __future__ import annotations

import aiohttp
from sqlalchemy import func, select

from bot.channels.telegram.channel import WEBHOOK_PATH
from storage.database import Store
from storage.models import Contribution, Vote
from tests.fakes.telegram_bot_api import FakeBotAPI, User, button_labels
from tests.running_chorus import chorus_server
from tests.telegram_harness import (
    TOKEN,
    TelegramPerson,
    new_user_id,
    post_update,
    telegram_settings,
)

PARKING = "Free parking at hospitals for carers and patients"
PHYSIOS = "More physios in GP surgeries"


async def _ideas(store: Store) -> list[Contribution]:
    async with store.reader() as unit:
        rows = await unit.session.scalars(
            select(Contribution).where(Contribution.kind == "idea").order_by(Contribution.id)
        )
        return list(rows)


async def _votes(store: Store, *where: object) -> int:
    async with store.reader() as unit:
        query = select(func.count()).select_from(Vote)
        for condition in where:
            query = query.where(condition)
        return await unit.session.scalar(query)


async def _join(person: TelegramPerson) -> None:
    await person.say("/start", expect="Do you agree to take part?")
    await person.press("Yes", expect="Which best describes you?")
    await person.press("Patient", expect="Where do you live or work?")
    await person.press("Wales", expect="How old are you?")
    await person.press("65 to 74", expect="What would you like to do?")


async def test_the_alike_offer_by_telegram_buttons(database_url: str) -> None:
    async with FakeBotAPI(TOKEN) as api, aiohttp.ClientSession() as http:
        settings = telegram_settings(database_url, api.base_url, mode="webhook")
        runtime = chorus_server(settings)
        await runtime.start()
        try:
            webhook = f"http://127.0.0.1:{runtime.port}{WEBHOOK_PATH}"

            async def deliver(update: dict) -> None:
                assert await post_update(http, webhook, update) == 200

            store = runtime.services.store
            amira, ben, carol = (
                TelegramPerson(api, User(new_user_id(), name), deliver)
                for name in ("Amira", "Ben", "Carol")
            )
            for person in (amira, ben, carol):
                await _join(person)
            await amira.say(f"/idea {PARKING}", expect="Do you want news about your idea")
            await amira.press("No", expect="We will not send you news")
            await amira.say(PHYSIOS, expect="saved as idea 2")
            parking, physios = await _ideas(store)

            # Ben's idea is like Amira's: one button for it and "Mine is different".
            await ben.say(
                "free parking for carers and patients at hospitals",
                expect="Is your idea like one of these?",
            )
            offer = ben.messages()[-1]
            assert f"Idea 1: {PARKING}" in offer["text"]
            assert button_labels(offer) == [f"Idea 1: {PARKING}", "Mine is different"]
            # Choosing it is an agree vote on it, and no new idea.
            await ben.press(f"Idea 1: {PARKING}", expect="We added your vote to idea 1")
            assert len(await _ideas(store)) == 2
            assert await _votes(store, Vote.contribution_id == parking.id, Vote.value == 1) == 1

            # Carol says hers is different: it is stored as she typed it.
            carols = "Free parking at hospitals for carers and patients, and for staff"
            await carol.say(carols, expect="Is your idea like one of these?")
            await carol.press("Mine is different", expect="saved as idea 3")
            assert [idea.text for idea in await _ideas(store)][-1] == carols
            assert await _votes(store, Vote.contribution_id == parking.id) == 1

            # The opposite of a stored idea is not offered as like it.
            await ben.say("Fewer physios in GP surgeries", expect="saved as idea 4")
            assert not any(
                "like one of these" in message.get("text", "") for message in ben.messages()[-3:]
            )
            assert await _votes(store, Vote.contribution_id == physios.id) == 0
        finally:
            await runtime.stop()
