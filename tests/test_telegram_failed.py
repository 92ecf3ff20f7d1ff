"""An update whose handling raises: the person is told their message is kept, the raw
update and the error land in the dead-letter table, `chorus failed` lists it and
`chorus retry` handles it again and sends the replies through Telegram."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlalchemy import select

from handlers.dead_letters import inbound_from_json
from handlers.privacy import ContactCipher
from storage.database import Store
from storage.models import Contribution, FailedInbound
from tests.conftest import TEST_SECRET, write_config
from tests.fakes.enrichers import FailingOnWord
from tests.fakes.telegram_bot_api import FakeBotAPI, User
from tests.running_chorus import chorus_in_process
from tests.telegram_harness import (
    TOKEN,
    ChorusWithTelegram,
    TelegramPerson,
    new_user_id,
    telegram_settings,
)

IDEA = "Physios in A&E would free up doctors"


async def _chorus(args: list[str], cwd: Path, database_url: str) -> tuple[int, str, str]:
    """`chorus ARGS` in a thread of this process (the fake Bot API serves from this loop
    meanwhile), reusing the models this process has loaded."""
    result = await asyncio.wait_for(
        asyncio.to_thread(chorus_in_process, args, cwd, database_url, TELEGRAM_BOT_TOKEN=TOKEN),
        120,
    )
    return result.returncode, result.stdout, result.stderr


async def test_a_failing_update_is_kept_listed_and_retried(
    database_url: str, tmp_path: Path
) -> None:
    async with FakeBotAPI(TOKEN) as api:
        settings = telegram_settings(database_url, api.base_url, mode="polling")
        async with ChorusWithTelegram(settings) as chorus:
            engine = chorus.services.engine
            engine.replace_deps(enricher=FailingOnWord(engine.enricher, "A&E"))
            person = TelegramPerson(api, User(new_user_id()), api.push)
            await person.say("/start", expect="Do you agree")
            await person.press("Yes", expect="Which best describes you?")
            update = await person.say(
                f"/idea {IDEA}", expect="Sorry, something went wrong. Your message is kept"
            )
            await person.say("/help", expect="Send IDEA")  # the chat carries on

        store = Store.connect(database_url)
        try:
            async with store.reader() as unit:
                (kept,) = list(await unit.session.scalars(select(FailedInbound)))
        finally:
            await store.close()
        assert kept.channel == "telegram" and kept.message_id == str(update["update_id"])
        assert kept.error == "RuntimeError: enrichment crashed on this text"
        assert IDEA not in kept.raw and str(person.user.id) not in kept.raw  # kept sealed
        opened = inbound_from_json(kept.raw, ContactCipher(TEST_SECRET))
        raw = json.loads(opened.raw)  # the update, as PTB serialises it
        assert raw["update_id"] == update["update_id"]
        assert raw["message"]["text"] == f"/idea {IDEA}"
        assert raw["message"]["from"]["id"] == person.user.id

        write_config(
            tmp_path / "config.yaml",
            channels={"telegram": {"mode": "polling", "base_url": api.base_url}},
        )
        code, listing, errors = await _chorus(["failed"], tmp_path, database_url)
        assert code == 0, errors
        header, row = listing.splitlines()
        assert header.split()[:4] == ["ID", "CHANNEL", "WHEN", "(UTC)"]
        assert row.split()[:2] == [str(kept.id), "telegram"]
        assert "RuntimeError: enrichment crashed" in row and " 1 " in row

        sent_before = len(api.calls_of("sendMessage"))
        code, output, errors = await _chorus(["retry"], tmp_path, database_url)
        assert code == 0, errors
        assert f"{kept.id}: done; 2 replies sent by telegram" in output
        assert TOKEN not in output + errors
        retried = api.calls_of("sendMessage")[sent_before:]
        assert [call.chat_id for call in retried] == [person.chat_id] * 2
        assert retried[0].params["text"].startswith("Thanks! Your idea is saved as idea")

        code, listing, _ = await _chorus(["failed", "--json"], tmp_path, database_url)
        assert code == 0 and json.loads(listing) == []

    store = Store.connect(database_url)
    try:
        async with store.reader() as unit:
            ideas = list(await unit.session.scalars(select(Contribution.text)))
            status = await unit.session.scalar(select(FailedInbound.status))
    finally:
        await store.close()
    assert ideas == [IDEA] and status == "done"
