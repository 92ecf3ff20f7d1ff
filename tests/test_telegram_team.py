"""The consultation team's commands through Telegram, over real HTTP to the fake Bot API:
every report in a private chat, moderation and merging by buttons, exports arriving as
documents and charts as photos, and strangers refused exactly like an unknown command.

The store is the small consultation of tests/insights_data.py, whose figures are known.
"""

from __future__ import annotations

import io
import re
import struct

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.jobs import JobRunner
from bot.outbox import OutboxDispatcher
from handlers.catalogue import Catalogue
from storage.models import AuditEntry
from tests.fakes.telegram_bot_api import FakeBotAPI, User
from tests.insights_data import ADMIN, IDEAS, INSIGHTS, PEOPLE, TEAM, VIEWER
from tests.telegram_harness import (
    TOKEN,
    ChorusWithTelegram,
    TelegramPerson,
    new_user_id,
    telegram_settings,
)

UNKNOWN = Catalogue().text("unknown_command")
I1, I3, I4, P1 = (IDEAS[key] for key in ("I1", "I3", "I4", "P1"))


@pytest.fixture
async def api():
    async with FakeBotAPI(TOKEN) as fake:
        yield fake


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


class TeamChat:
    """Chorus with Telegram and a job runner, and people who talk to it by webhook."""

    def __init__(self, chorus: ChorusWithTelegram, api: FakeBotAPI) -> None:
        self.chorus = chorus
        self.api = api
        self.jobs = JobRunner(chorus.services, {"telegram": chorus.channel})

    def person(self, user_id: int) -> TelegramPerson:
        async def deliver(update: dict) -> None:
            assert await self.chorus.post(update) == 200

        return TelegramPerson(self.api, User(user_id), deliver)

    async def run_jobs(self) -> int:
        return await self.jobs.run_until_idle()

    async def audit(self) -> list[AuditEntry]:
        async with self.chorus.services.store.reader() as unit:
            return list(await unit.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


async def test_every_team_command_through_telegram(consultation_url: str, api) -> None:
    settings = telegram_settings(
        consultation_url, api.base_url, mode="webhook", team=TEAM, insights=INSIGHTS
    )
    async with ChorusWithTelegram(settings) as chorus:
        chat = TeamChat(chorus, api)
        admin, viewer = chat.person(int(ADMIN)), chat.person(int(VIEWER))
        participant = chat.person(int(PEOPLE["a2"][0]))  # took part; not on the team
        newcomer = chat.person(new_user_id())

        # Anyone else gets what an unknown command gets, word for word, and no report.
        for command in ("/summary", "/export", "/pending", "/frobnicate"):
            await participant.say(command, expect=UNKNOWN)
            assert participant.last_text() == UNKNOWN
        await newcomer.say("/frobnicate", expect="Do you agree to take part?")
        unknown_before_consent = newcomer.last_text()
        for command in ("/summary", "/export"):
            await newcomer.say(command, expect="Do you agree to take part?")
            assert newcomer.last_text() == unknown_before_consent

        await admin.say("/summary", expect="Participants: 10 signed up, 10 took part")
        summary = admin.last_text()
        assert "Contributions: 5 (5 ideas, 0 comments). Votes: 27." in summary
        assert "Contributions by channel: console 2 (40%), telegram 2 (40%), sms 1 (20%)" in summary
        assert "Votes: agree 20, disagree 6, skip 1" in summary

        await viewer.say("/top 2", expect="Top ideas by Wilson lower bound")
        top = viewer.last_text()
        assert top.index(f"1. idea {I4} [0.57] +5/-0") < top.index(f"2. idea {I1} [0.53] +7/-1")
        await viewer.say("/controversial", expect="Controversial ideas")
        assert f"1. idea {I3} 50% agree +3/-3" in viewer.last_text()
        await viewer.say("/consensus", expect="Consensus:")
        consensus = viewer.last_text()
        assert f"1. idea {I1} lowest 100%: AHP 100% of 4, Patient 100% of 3" in consensus
        assert "Too few votes to count on any idea listed:" in consensus
        await viewer.say("/reach", expect="Who is taking part (all questions, all time): 10")
        reach = viewer.last_text()
        assert "- Other staff: 0% of participants, target 10% (10 points short)" in reach
        assert "Patient 33% (target 25%)" in reach

        # A viewer may not moderate; an admin may, by button.
        await viewer.say("/pending", expect="needs the moderator role")
        await admin.say("/pending", expect=f"idea {P1}, held for")
        await admin.press("Approve", expect=f"Approved idea {P1}: voters can see it now.")
        async with chorus.services.store.reader() as unit:
            assert (await unit.contributions.get(P1)).status == "visible"

        # Similar ideas are found in the background, then merged by a button.
        author = chat.person(int(PEOPLE["a3"][0]))
        await author.say(
            "/idea Physios in every GP surgery would cut the waiting times",
            expect="Is your idea like one of these?",
        )
        await author.press("Mine is different", expect="idea 6")  # stored all the same
        await author.say("no", expect="We will not send you news")
        await admin.say("/similar", expect="Looking for similar ideas now")
        assert await chat.run_jobs() >= 1
        await admin.wait("% alike")  # one message per pair, each with its buttons
        await admin.press(f"Merge idea 6 into idea {I1}", expect=f"Merged idea 6 into idea {I1}")
        assert "Authors told: 1." in admin.last_text()
        async with chorus.services.store.reader() as unit:
            assert (await unit.contributions.get(6)).duplicate_of == I1
        # The author of #1 asked for news and writes on Telegram: told, with no one named.
        dispatcher = OutboxDispatcher(chorus.services, {"telegram": chorus.channel})
        assert await dispatcher.run_once() == 1
        news = api.chat(int(PEOPLE["a1"][0]))[-1]["text"]
        assert news.startswith(f"News about your idea {I1}: we joined a similar idea with it.")

        # Themes come from a background job too; a moderator renames one by its button.
        await admin.say("/themes", expect="Working out themes now")
        await chat.run_jobs()
        await admin.wait("Theme")
        texts = [m.get("text", "") for m in admin.messages()]
        header = next(t for t in texts if t.startswith("Themes for ahp-action"))
        assert header == "Themes for ahp-action, as of just now (5 ideas themed):"
        themes = [t for t in texts[texts.index(header) + 1 :] if t.startswith("Theme ")]
        assert sum(int(t.split("(")[1].split(" idea")[0]) for t in themes) == 5
        number = themes[-1].split(":")[0].removeprefix("Theme ")
        await admin.press(f"Rename theme {number}", expect=f"Send /rename {number} followed")
        await admin.say(f"/rename {number} Physios in GP surgeries", expect="is now called")
        assert admin.last_text() == f"Theme {number} is now called: Physios in GP surgeries"

        # Exports arrive as documents, charts as photos.
        await admin.say("/export", expect="Making your export (XLSX)")
        await chat.run_jobs()
        (document,) = await api.wait_for_calls("sendDocument", 1)
        assert document.chat_id == int(ADMIN)
        filename, content = document.files["document"]
        assert filename.endswith(".xlsx")
        assert "Vote coding: agree = 1, disagree = -1, skip = 0" in document.params["caption"]
        workbook = load_workbook(io.BytesIO(content), read_only=True)
        assert workbook.sheetnames == ["About", "Contributions", "Ideas", "Themes"]
        rows = list(workbook["Contributions"].iter_rows(values_only=True))
        workbook.close()
        assert len(rows) == 1 + 6  # the header and six contributions (idea 6 merged, kept)
        # No cell holds a platform id (as a value or a word of a text); the short Telegram
        # ids ("101") may still occur inside a number, such as a confidence of 0.8101.
        cells = [str(cell) for row in rows for cell in row if isinstance(cell, str)]
        for platform_id, _channel in PEOPLE.values():
            named = re.compile(rf"(?<![\w.+]){re.escape(platform_id)}(?!\w)")
            assert not any(named.search(cell) for cell in cells), platform_id
        await admin.say("/export csv", expect="Making your export (CSV)")
        await chat.run_jobs()
        documents = (await api.wait_for_calls("sendDocument", 4))[1:]
        names = sorted(d.files["document"][0].rsplit("-", 1)[1] for d in documents)
        assert names == ["contributions.csv", "ideas.csv", "themes.csv"]
        ideas_csv = next(d for d in documents if d.files["document"][0].endswith("ideas.csv"))
        header = ideas_csv.files["document"][1].decode("utf-8-sig").splitlines()[0]
        assert "agree_votes (coded 1)" in header and "channel" in header and "language" in header

        await viewer.say("/chart", expect="Which chart?")
        await viewer.press("Representation", expect="Making your chart")
        await chat.run_jobs()
        (photo,) = await api.wait_for_calls("sendPhoto", 1)
        assert photo.chat_id == int(VIEWER)
        name, picture = photo.files["photo"]
        assert name == "chorus-reach.png" and png_size(picture) == (1200, 900)
        assert 10_000 < len(picture) < 400_000

        # The export and the moderation are in the audit log; the viewer's refusal is not.
        actions = [(entry.action, entry.target) for entry in await chat.audit()]
        assert ("approve", f"contribution:{P1}") in actions
        assert ("merge", "contribution:6") in actions
        assert ("export", "xlsx") in actions and ("export", "csv") in actions
        assert ("rename_theme", f"theme:{number}") in actions
