"""The whole Big List of Naughty Strings (tests/data/blns, MIT) through every text
channel over real HTTP — SMS, Telegram's webhook, WhatsApp's webhook (signed as Meta
signs it), public posts on X (through the fake X API) and the web form — as ideas: no
answer is a 5xx, every stored idea is exactly the cleaned (and redacted) input, every
WhatsApp reply is a message the Cloud API accepts, and wherever a text is shown in HTML
or TwiML it comes back as the same text, escaped. The channels are driven at the same
time, each person's messages in order."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import xml.etree.ElementTree as ET
from functools import partial
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select
from twilio.twiml.messaging_response import MessagingResponse

from bot.channels.sms_render import render_sms
from bot.channels.web import _page
from handlers.catalogue import Catalogue
from handlers.commands import parse_command
from handlers.enrich import clean_text
from handlers.flows.call import pressed, spoken
from handlers.flows.contribute import has_words
from handlers.types import Reply
from storage.models import Contribution
from tests.conftest import config_dict, make_settings, with_environ
from tests.fakes.telegram_bot_api import FakeBotAPI, User
from tests.fakes.whatsapp_graph import FakeGraphAPI, signature, text_message
from tests.fakes.x_api import FakeX
from tests.running_chorus import chorus_server
from tests.telegram_harness import PUBLIC_URL, SECRET_HEADER, TOKEN, WEBHOOK_SECRET
from tests.test_whatsapp import APP_SECRET, PHONE_ID, VERIFY_TOKEN, body_of
from tests.test_whatsapp import TOKEN as WHATSAPP_TOKEN
from tests.twilio_fakes import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    OUR_NUMBER,
    SMS_URL,
    VOICE_URL,
    Caller,
    Phone,
    new_sid,
)
from tests.x_harness import TAG, pid
from tests.x_harness import TOKEN as X_TOKEN

BLNS = json.loads((Path(__file__).parent / "data" / "blns" / "blns.json").read_text("utf-8"))
ONBOARDING = ["start", "yes", "skip", "skip", "skip", "idea a first idea to settle in", "no"]


def test_the_vendored_list_is_the_whole_current_one() -> None:
    assert len(BLNS) >= 500 and all(isinstance(item, str) for item in BLNS)
    assert any("\u202e" in item for item in BLNS) and any("<script>" in item for item in BLNS)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._in_p = False
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)
        if tag == "p":
            self._in_p = True
            self.paragraphs.append("")

    def handle_endtag(self, tag) -> None:
        self._in_p = self._in_p and tag != "p"

    def handle_data(self, data) -> None:
        if self._in_p:
            self.paragraphs[-1] += data


SHOWN_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "p", "form", "input"}
SHOWN_TAGS |= {"button", "label", "textarea"}


@pytest.mark.parametrize("text", BLNS, ids=range(len(BLNS)))
def test_shown_in_the_web_page_and_in_twiml_as_the_same_text(text: str) -> None:
    cleaned = clean_text(text)
    page = _page("Chorus", [Reply(cleaned, key="x")], "token", Catalogue())
    parser = _Text()
    parser.feed(page)
    assert set(parser.tags) <= SHOWN_TAGS, parser.tags  # nothing the text brought in
    assert parser.paragraphs == [cleaned.replace("\r", "\n")]
    if cleaned.strip():
        response = MessagingResponse()  # as the SMS webhook answers
        for part in render_sms([Reply(cleaned)]):
            response.message(part)
        parts = [m.text or "" for m in ET.fromstring(str(response)).iter("Message")]
        assert "".join(parts) == "".join(render_sms([Reply(cleaned)]))


def expected_idea(enricher, text: str) -> str | None:
    """What Chorus should store for the message "idea <text>", or None for no idea."""
    command = parse_command(clean_text(f"idea {text}"))
    if command is None or command.word != "idea" or not command.argument:
        return None
    if not has_words(command.argument):  # "idea 1E2": asked for words, nothing stored
        return None
    return enricher.enrich(command.argument).text


DIFFERENT = re.compile(r"Press (\d) if yours is different")


def expected_spoken(enricher, text: str) -> str | None:
    """What Chorus should store for `text` said as an idea on a call, or None when the
    call takes it for silence or for a key."""
    heard = clean_text(text.strip())
    if not heard.strip() or pressed(heard) is not None:
        return None
    return enricher.enrich(heard).text


def expected_post(enricher, text: str) -> str:
    """What Chorus should store for a public post on X."""
    return enricher.enrich(x_post(text), social=True).text


def x_post(text: str) -> str:
    return f"{text} {TAG}"


def taken(counts: dict[str, int]) -> int:
    """How many posts the X listener has settled, one way or another."""
    settled = ("ideas", "comments", "endorsements", "duplicates", "unmatched", "ignored")
    return sum(counts.get(name, 0) for name in (*settled, "failed"))


def every_text_channel(database_url: str, bot_api: str, graph_api: str, x_api: str):
    # The list is sent as fast as HTTP allows, by one person per channel: no limits here.
    many = {"ideas_per_hour": 10_000, "messages_per_minute": 10_000}
    # Each string must be stored as sent, not offered as "like" another channel's copy.
    consultation = {**config_dict()["consultation"], "offer_alike": False}
    settings = make_settings(
        database_url,
        limits=many,
        consultation=consultation,
        # Four people at once on a busy machine: the content is tested here, not latency.
        store={"webhook_seconds": 14},
        channels={
            "sms": {"public_url": SMS_URL, "from_number": OUR_NUMBER},
            "voice": {"public_url": VOICE_URL},
            "telegram": {"mode": "webhook", "base_url": bot_api, "public_url": PUBLIC_URL},
            "whatsapp": {"phone_number_id": PHONE_ID, "api_base": graph_api},
            "twitter": {"api_base": x_api, "mode": "poll"},
        },
    )
    return with_environ(
        settings,
        WHATSAPP_ACCESS_TOKEN=WHATSAPP_TOKEN,
        WHATSAPP_APP_SECRET=APP_SECRET,
        WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
        X_BEARER_TOKEN=X_TOKEN,
    )


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "chorus.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.mark.slow
async def test_every_naughty_string_through_every_text_channel(sqlite_url: str, enricher) -> None:
    await asyncio.to_thread(enricher.warm_up)
    channels = ("sms", "telegram", "whatsapp", "voice", "web")
    statuses: dict[str, list[int]] = {channel: [] for channel in channels}
    read_back: list[str] = []
    x = FakeX(X_TOKEN)
    for number, text in enumerate(BLNS, start=1):  # a different author each, oldest first
        x.post(pid(number), x_post(text), author=str(10_000 + number))
    async with FakeBotAPI(TOKEN) as api, FakeGraphAPI(WHATSAPP_TOKEN, PHONE_ID) as graph:
        await x.start()
        settings = every_text_channel(sqlite_url, api.base_url, graph.base_url, x.url)
        runtime = chorus_server(settings)
        await runtime.start()
        base = f"http://127.0.0.1:{runtime.port}"
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                phone = Phone(http, runtime.port, "+447700900555")
                user = User(424242)

                async def by_sms(text: str) -> None:
                    statuses["sms"].append((await phone.send(text)).status)

                async def by_whatsapp(text: str) -> None:
                    body = body_of(text_message("447700900777", text))
                    headers = {
                        "Content-Type": "application/json",
                        "X-Hub-Signature-256": signature(APP_SECRET, body),
                    }
                    async with http.post(
                        f"{base}/webhooks/whatsapp", data=body, headers=headers
                    ) as response:
                        statuses["whatsapp"].append(response.status)

                caller_number = "+447700900888"

                async def by_phone() -> None:
                    first = Caller(http, runtime.port, caller_number)
                    await first.dial()
                    statuses["voice"].append((await first.press("1")).status)  # consent
                    for text in BLNS:
                        # A call for each idea: dial, 1 for an idea, say it, 1 to save.
                        call = Caller(http, runtime.port, caller_number, new_sid("CA"))
                        turns = [await call.dial(), await call.press("1")]
                        turns.append(await call.speak(text))
                        if expected_spoken(enricher, text) is not None:
                            read_back.append(turns[-1].said)
                            turns.append(await call.press("1"))
                        # The call offers ideas alike (the other channels' copies), even
                        # with offer_alike off: the caller says theirs is different.
                        different = DIFFERENT.search(turns[-1].said)
                        if different:
                            turns.append(await call.press(different[1]))
                        statuses["voice"].extend(turn.status for turn in turns)

                async def by_telegram(text: str) -> None:
                    headers = {SECRET_HEADER: WEBHOOK_SECRET}
                    update = api.text_update(user, text)
                    async with http.post(
                        f"{base}/webhooks/telegram", json=update, headers=headers
                    ) as response:
                        statuses["telegram"].append(response.status)

                page = {"text": ""}
                async with http.get(f"{base}/take-part") as response:
                    page["text"] = await response.text()

                async def by_web(text: str) -> None:
                    token = re.search(r'name="form_id" value="([^"]+)"', page["text"]).group(1)
                    async with http.post(
                        f"{base}/take-part", data={"form_id": token, "text": text}
                    ) as response:
                        statuses["web"].append(response.status)
                        page["text"] = await response.text()

                async def one_person(send) -> None:
                    for text in ONBOARDING:
                        await send(text)
                    for text in BLNS:
                        await send(f"idea {text}")

                listener = next(c for c in runtime.channels if c.name == "x").listener
                async with asyncio.timeout(600):
                    await asyncio.gather(
                        *(one_person(send) for send in (by_sms, by_telegram, by_whatsapp, by_web)),
                        by_phone(),
                        listener.wait_until(lambda it: taken(it.counts) >= len(BLNS)),
                    )
                whatsapp = next(c for c in runtime.channels if c.name == "whatsapp")
                await whatsapp.drained()
                x_counts = dict(listener.counts)
            async with runtime.services.store.reader() as unit:
                rows = (
                    await unit.session.execute(
                        select(Contribution.channel, Contribution.text).order_by(Contribution.id)
                    )
                ).all()
        finally:
            await runtime.stop()
            await x.close()
    assert graph.refusals == [] and graph.sent  # every reply a message WhatsApp accepts
    assert x_counts.get("failed", 0) == 0 and x_counts["ideas"] == len(BLNS), x_counts
    for channel, answers in statuses.items():
        assert answers and all(status == 200 for status in answers), (channel, set(answers))
    # Each channel's person shares each text once: one that cleans to an earlier idea's
    # text is not stored again (the same idea twice is stored once).
    expected = list(
        dict.fromkeys(e for e in (expected_idea(enricher, text) for text in BLNS) if e is not None)
    )
    for channel in ("sms", "telegram", "whatsapp", "web"):
        stored = [text for where, text in rows if where == channel][1:]  # after the first
        mismatched = [(s, e) for s, e in zip(stored, expected, strict=False) if s != e]
        assert not mismatched, (channel, mismatched[:5])
        assert len(stored) == len(expected), (channel, len(stored), len(expected))
    spoken_ideas = [e for e in map(partial(expected_spoken, enricher), BLNS) if e is not None]
    said = [f"You said: {spoken(idea)}. Press 1" for idea in spoken_ideas]
    assert [s for s, r in zip(said, read_back, strict=True) if s not in r] == []  # TwiML
    stored = [text for where, text in rows if where == "voice"]
    # A caller who confirms the same words twice gets them stored twice (unlike a text
    # channel's person): compared as the texts stored, in order of first appearance.
    assert list(dict.fromkeys(stored)) == list(dict.fromkeys(spoken_ideas))
    posts = [text for where, text in rows if where == "x"]
    mismatched = [
        (s, e) for s, e in zip(posts, BLNS, strict=True) if s != expected_post(enricher, e)
    ]
    assert not mismatched, mismatched[:5]
