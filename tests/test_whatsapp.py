"""The WhatsApp channel over real HTTP: Chorus's webhook signed as Meta signs it, replies
through a fake WhatsApp Cloud API on a random port, on SQLite and PostgreSQL.

The webhook's answers are a table of recorded payloads run by the shared channel harness
(tests/channel_harness.py); then the whole journey by buttons and lists, a replayed
wamid, status callbacks, a 429 then success, the 24-hour window, and the store down.
Rendering and settings are tests/test_whatsapp_rendering.py.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.channels.whatsapp import WhatsAppChannel
from bot.channels.whatsapp.graph import OutsideWindow
from bot.config import Settings
from handlers.types import Reply
from storage.database import Store
from storage.models import Contact, Contribution, Participant, ProcessedMessage, Vote
from tests.channel_harness import ChannelCase, ChorusUnderTest, count, run_case
from tests.conftest import make_settings
from tests.fakes.outage import StoreOutage
from tests.fakes.whatsapp_graph import (
    FakeGraphAPI,
    Sent,
    button_reply,
    envelope,
    list_reply,
    media_message,
    new_wamid,
    signature,
    status,
    text_message,
)

CHANNEL = "whatsapp"
PATH = "/webhooks/whatsapp"
TOKEN = "EAAtest-whatsapp-access-token-0123456789"
APP_SECRET = "test-whatsapp-app-secret-0123456789"
VERIFY_TOKEN = "test-whatsapp-verify-token"
PHONE_ID = "106540352242922"
AMIRA, BEN, CARA = "447700900101", "447700900202", "447700900303"


def whatsapp_settings(database_url: str, api_base: str, **section: object) -> Settings:
    settings = make_settings(
        database_url,
        channels={"whatsapp": {"phone_number_id": PHONE_ID, "api_base": api_base, **section}},
    )
    environ = {
        **settings.env.environ,
        "WHATSAPP_ACCESS_TOKEN": TOKEN,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
    }
    return replace(settings, env=replace(settings.env, environ=environ))


def body_of(*messages: dict[str, Any], statuses: list[dict[str, Any]] | None = None) -> bytes:
    return json.dumps(
        envelope(PHONE_ID, messages=list(messages) or None, statuses=statuses)
    ).encode()


class WhatsAppDriver:
    """How the harness signs WhatsApp requests and reads what people got back."""

    channel = CHANNEL
    path = PATH

    def __init__(self, graph: FakeGraphAPI) -> None:
        self.graph = graph

    def sign(self, url: str, body: bytes, signer: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if signer == "valid":
            headers["X-Hub-Signature-256"] = signature(APP_SECRET, body)
        elif signer == "forged":
            headers["X-Hub-Signature-256"] = signature("another-secret-entirely", body)
        return headers

    async def replies(self, chorus: ChorusUnderTest, answer: str, sender: str) -> list[str]:
        channel = chorus.channel(CHANNEL)
        assert isinstance(channel, WhatsAppChannel)
        await channel.drained()
        return [sent.text for sent in self.graph.to(sender)]


# --- The webhook's answers, as a table of recorded payloads ------------------------------

_hello = text_message(AMIRA, "Hello", wamid="wamid.HBgMNDQ3NzAwOTAwMTAxFQIAEhggQTE=")
_forged = text_message(BEN, "Hello", wamid="wamid.HBgMNDQ3NzAwOTAwMjAyFQIAEhggQjI=")
_photo = media_message(CARA, "image", wamid="wamid.HBgMNDQ3NzAwOTAwMzAzFQIAEhggQzM=")

_NOT_WHATSAPP = json.dumps({"object": "page", "entry": []}).encode()

CASES = [
    ChannelCase(
        "a text message",
        body_of(_hello),
        200,
        text="Do you agree to take part?",
        sender=AMIRA,
        external_id=_hello["id"],
        makes_person=False,  # no participant row before consent
    ),
    ChannelCase(
        "signed with another secret",
        body_of(_forged),
        403,
        signer="forged",
        sender=BEN,
        external_id=_forged["id"],
    ),
    ChannelCase("no signature", body_of(_forged), 403, signer="none", sender=BEN),
    ChannelCase(
        "a photo gets a request for text",
        body_of(_photo),
        200,
        text="I can only read text",
        sender=CARA,
        external_id=_photo["id"],
        makes_person=False,
    ),
    ChannelCase(
        "a delivery report",
        body_of(statuses=[status(AMIRA, "delivered")]),
        200,
    ),
    ChannelCase(
        "a message type Chorus does not know",
        body_of({"from": CARA, "id": new_wamid(), "type": "unsupported", "unsupported": {}}),
        200,
        sender=CARA,
        makes_person=False,
    ),
    ChannelCase(
        "a change for another business number",
        json.dumps(envelope("999", messages=[text_message(CARA, "Hi")])).encode(),
        200,
        sender=CARA,
        makes_person=False,
    ),
    ChannelCase("not JSON", b"hello=there", 400),
    ChannelCase(
        "not a WhatsApp payload", json.dumps({"object": "page", "entry": []}).encode(), 400
    ),
    ChannelCase("an oversized body", b"{" + b" " * (300 * 1024) + b"}", 413),
]


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraphAPI]:
    async with FakeGraphAPI(TOKEN, PHONE_ID) as fake:
        yield fake


@pytest.fixture
async def chorus(database_url: str, graph: FakeGraphAPI) -> AsyncIterator[ChorusUnderTest]:
    async with ChorusUnderTest(whatsapp_settings(database_url, graph.base_url)) as running:
        yield running


@pytest.mark.parametrize("case", CASES, ids=[case.label for case in CASES])
async def test_webhook_answers(
    case: ChannelCase, chorus: ChorusUnderTest, graph: FakeGraphAPI
) -> None:
    await run_case(chorus, WhatsAppDriver(graph), case)


# --- A person on WhatsApp ---------------------------------------------------------------


class Person:
    """Someone messaging Chorus on WhatsApp; Meta's side is played by the test."""

    def __init__(self, chorus: ChorusUnderTest, graph: FakeGraphAPI, wa_id: str) -> None:
        self.chorus, self.graph, self.wa_id = chorus, graph, wa_id
        self.driver = WhatsAppDriver(graph)

    @property
    def inbox(self) -> list[Sent]:
        return self.graph.to(self.wa_id)

    async def send(self, message: dict[str, Any], expect: str | None = None) -> list[Sent]:
        before = len(self.inbox)
        status_code, answer = await self.chorus.post(self.driver, body_of(message))
        assert status_code == 200, answer
        channel = self.chorus.channel(CHANNEL)
        assert isinstance(channel, WhatsAppChannel)
        await channel.drained()
        new = self.inbox[before:]
        if expect is not None:
            # The menu may follow the answer, as it does after every completed action.
            assert any(expect in m.text for m in new), (expect, [m.text for m in new])
        return new

    async def say(self, text: str, expect: str | None = None) -> list[Sent]:
        return await self.send(text_message(self.wa_id, text), expect)

    async def press(self, label: str, expect: str | None = None) -> list[Sent]:
        """Press the button or list row starting with `label` on the last message."""
        last = self.inbox[-1]
        interactive = last.message["interactive"]
        for title, id_ in last.options:
            if label.startswith(title.rstrip("\u2026")) or title.startswith(label):
                build = button_reply if interactive["type"] == "button" else list_reply
                return await self.send(build(self.wa_id, id_, title), expect)
        raise AssertionError(f"no option {label!r} in {last.options}")

    async def pick_numbered(self, label: str, expect: str | None = None) -> list[Sent]:
        """Answer a numbered text menu by typing the number of `label`."""
        found = re.search(rf"^(\d+)\. {re.escape(label)}$", self.inbox[-1].text, re.M)
        assert found, self.inbox[-1].text
        return await self.say(found.group(1), expect)


async def test_the_handshake(chorus: ChorusUnderTest) -> None:
    assert chorus.http is not None
    good = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    async with chorus.http.get(chorus.url(PATH), params=good) as response:
        assert response.status == 200 and await response.text() == "1158201444"
        assert response.content_type == "text/plain"
    for wrong in ({"hub.verify_token": "guess"}, {"hub.mode": "unsubscribe"}):
        async with chorus.http.get(chorus.url(PATH), params={**good, **wrong}) as response:
            assert response.status == 403


IDEA = "Physios in every GP surgery would cut waiting times"


async def test_the_whole_journey(chorus: ChorusUnderTest, graph: FakeGraphAPI) -> None:
    store = chorus.services.store
    amira, ben = Person(chorus, graph, AMIRA), Person(chorus, graph, BEN)

    # Consent by button; the gateway questions by list, numbered text and buttons.
    await amira.say("Hello", expect="Do you agree to take part?")
    assert [title for title, _ in amira.inbox[-1].options] == ["Yes", "No"]
    await amira.press("Yes", expect="Which best describes you?")
    roles = amira.inbox[-1]
    assert roles.message["interactive"]["type"] == "list" and len(roles.options) == 7
    await amira.press("Allied health professional", expect="Which allied health job do you do?")
    assert amira.inbox[-1].kind == "text" and "14. " in amira.inbox[-1].text  # 14 choices
    await amira.pick_numbered("Physiotherapist", expect="Where do you live or work?")
    await amira.pick_numbered("London", expect="How old are you?")  # 11 choices: numbered
    await amira.press("35 to 44", expect="What would you like to do?")

    # An idea, asking for news: the number is then kept, encrypted, and only then.
    await amira.say(f"IDEA {IDEA}", expect="Do you want news about your idea")
    await amira.press("Yes")
    async with store.reader() as unit:
        ideas = list(await unit.session.scalars(select(Contribution)))
        [contact] = list(await unit.session.scalars(select(Contact)))
    assert [idea.text for idea in ideas] == [IDEA]
    assert contact.channel == CHANNEL
    assert chorus.services.contacts.decrypt(contact.address_encrypted) == AMIRA

    # A vote by button, then a comment.
    await ben.say("Hi", expect="Do you agree to take part?")
    await ben.press("Yes", expect="Which best describes you?")
    await ben.press("Patient", expect="Where do you live or work?")
    await ben.pick_numbered("Wales", expect="How old are you?")
    await ben.press("65 to 74", expect="What would you like to do?")
    await ben.say("VOTE", expect=IDEA)
    assert [title for title, _ in ben.inbox[-1].options][:2] == [
        "\U0001f44d Agree",
        "\U0001f44e Disagree",
    ]
    await ben.press("\U0001f44d Agree")
    assert await count(store, Vote, Vote.value == 1) == 1
    await ben.say(f"COMMENT {ideas[0].id}", expect="What is your comment?")
    await ben.say("Yes, and in pharmacies too", expect="What would you like to do?")
    assert "Your comment on idea 1 is saved" in ben.inbox[-2].text
    assert await count(store, Contribution, Contribution.kind == "comment") == 1

    # MYDATA, then FORGET by button.
    await ben.say("MYDATA", expect="We hold this about you")
    assert "Patient, Wales, 65 to 74" in ben.inbox[-2].text  # then the menu
    await ben.say("FORGET", expect="This deletes your ideas")
    await ben.press("Yes", expect="We have deleted your data")
    assert await count(store, Vote) == 0
    # MYDATA and HELP after FORGET are answered and create nothing.
    await ben.say("MYDATA", expect="We hold nothing about you yet")
    await ben.say("HELP", expect="MYDATA")

    # Every message went out as the fake Cloud API accepts it, with the token.
    assert graph.refusals == []
    # No number is stored anywhere in plain text.
    async with store.reader() as unit:
        people = list(await unit.session.scalars(select(Participant)))
    assert len(people) == 1
    assert people[0].pseudonym == chorus.services.engine.pseudonym(CHANNEL, AMIRA)
    await assert_no_number_stored(store, (AMIRA, BEN))


async def assert_no_number_stored(store: Store, numbers: tuple[str, ...]) -> None:
    from sqlalchemy import text

    from storage.models import Base

    async with store.reader() as unit:
        for table in Base.metadata.sorted_tables:
            rows = (await unit.session.execute(text(f"SELECT * FROM {table.name}"))).all()
            for row in rows:
                for value in row:
                    for number in numbers:
                        assert number not in str(value), (table.name, row)


async def test_a_replayed_wamid_is_applied_once(
    chorus: ChorusUnderTest, graph: FakeGraphAPI
) -> None:
    driver = WhatsAppDriver(graph)
    body = body_of(text_message(AMIRA, "Hello"))
    for _ in range(3):
        assert (await chorus.post(driver, body))[0] == 200
    await Person(chorus, graph, AMIRA).say("YES", expect="Which best describes you?")
    assert await count(chorus.services.store, ProcessedMessage) == 2
    texts = [sent.text for sent in graph.to(AMIRA)]
    assert sum("Do you agree to take part?" in text for text in texts) == 1


async def test_status_callbacks_are_counted_and_undeliverable_marks_unreachable(
    chorus: ChorusUnderTest, graph: FakeGraphAPI
) -> None:
    await Person(chorus, graph, AMIRA).say("Hello")
    await Person(chorus, graph, AMIRA).say("YES")  # consent: now they have a row
    driver = WhatsAppDriver(graph)
    reports = [status(AMIRA, "sent"), status(AMIRA, "delivered"), status(AMIRA, "read")]
    assert (await chorus.post(driver, body_of(statuses=reports)))[0] == 200
    failed = body_of(statuses=[status(AMIRA, "failed", code=131026)])
    assert (await chorus.post(driver, failed))[0] == 200
    channel = chorus.channel(CHANNEL)
    assert isinstance(channel, WhatsAppChannel)
    assert channel.status()["statuses"] == {"sent": 1, "delivered": 1, "read": 1, "failed": 1}
    async with chorus.services.store.reader() as unit:
        person = await unit.participants.find(chorus.services.engine.pseudonym(CHANNEL, AMIRA))
    assert person is not None and person.unreachable
    # Writing again shows they can be reached.
    await Person(chorus, graph, AMIRA).say("YES")
    async with chorus.services.store.reader() as unit:
        person = await unit.participants.find(chorus.services.engine.pseudonym(CHANNEL, AMIRA))
    assert person is not None and not person.unreachable


async def test_a_429_then_success(chorus: ChorusUnderTest, graph: FakeGraphAPI) -> None:
    graph.fail_next(429, code=130429)
    graph.fail_next(503)
    await Person(chorus, graph, AMIRA).say("Hello", expect="Do you agree to take part?")
    assert graph.requests == 3


async def test_undeliverable_reply_marks_the_person_unreachable(
    chorus: ChorusUnderTest, graph: FakeGraphAPI
) -> None:
    await Person(chorus, graph, AMIRA).say("Hello")
    await Person(chorus, graph, AMIRA).say("YES")  # consent: now they have a row
    graph.fail_next(400, code=131026)
    assert await Person(chorus, graph, AMIRA).say("HELP") == []
    async with chorus.services.store.reader() as unit:
        person = await unit.participants.find(chorus.services.engine.pseudonym(CHANNEL, AMIRA))
    assert person is not None and person.unreachable


async def test_follow_ups_within_and_outside_the_24_hour_window(
    database_url: str, graph: FakeGraphAPI, caplog: pytest.LogCaptureFixture
) -> None:
    for template in (None, "idea_news"):
        section = {"followup_template": template} if template else {}
        async with ChorusUnderTest(
            whatsapp_settings(database_url, graph.base_url, **section)
        ) as chorus:
            channel = chorus.channel(CHANNEL)
            assert isinstance(channel, WhatsAppChannel)
            number = AMIRA if template is None else BEN
            await Person(chorus, graph, number).say("Hello")
            await Person(chorus, graph, number).say("YES")
            news = [Reply("Your idea was joined with a similar one.", key="followup")]
            await channel.deliver(number, news)
            assert graph.to(number)[-1].kind == "text"
            engine = chorus.services.engine
            real_clock = engine.clock
            engine.replace_deps(clock=later(real_clock))
            if template is None:
                caplog.clear()
                with caplog.at_level(logging.WARNING):
                    for _ in range(2):
                        with pytest.raises(OutsideWindow):
                            await channel.deliver(number, news)
                warned = [r for r in caplog.records if "followup_template" in r.getMessage()]
                assert len(warned) == 1  # logged once
            else:
                await channel.deliver(number, news)
                sent = graph.to(number)[-1]
                assert sent.kind == "template"
                assert sent.message["template"]["name"] == "idea_news"
                assert sent.text == news[0].text
            engine.replace_deps(clock=real_clock)


def later(clock: Callable[[], datetime]) -> Callable[[], datetime]:
    return lambda: clock() + timedelta(hours=25)


async def test_the_store_down_answers_503_and_the_retry_is_applied(
    database_url: str, graph: FakeGraphAPI
) -> None:
    async with StoreOutage(database_url) as outage:
        store = Store.connect(outage.url, busy_seconds=outage.busy_seconds)
        settings = outage.with_short_waits(whatsapp_settings(outage.url, graph.base_url))
        async with ChorusUnderTest(settings, store=store) as chorus:
            driver = WhatsAppDriver(graph)
            body = body_of(text_message(AMIRA, "Hello"))
            await outage.down()
            assert (await chorus.post(driver, body))[0] == 503
            await outage.up()
            assert (await chorus.post(driver, body))[0] == 200  # Meta's retry
            assert (await chorus.post(driver, body))[0] == 200  # and a duplicate
            texts = await driver.replies(chorus, "", AMIRA)
            assert await count(chorus.services.store, ProcessedMessage) == 1
    assert len(texts) == 1 and "Do you agree to take part?" in texts[0]
