"""The SMS channel over real HTTP against Chorus's own server, with requests signed as
Twilio signs them, on SQLite and PostgreSQL: the webhook's answers to good, forged and
malformed requests (a table of cases run by one harness), a whole journey from two
phones with every reply measured in segments, replays, opting out and in, unusual text,
and a store that is down. Follow-ups through Twilio's REST API and the channel turned off
are tests/test_sms_follow_ups.py."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.channels.sms_segments import GSM7, measure
from bot.runtime import Runtime
from storage.database import Store
from storage.models import (
    Contact,
    Contribution,
    Participant,
    ProcessedMessage,
    Vote,
)
from tests.channel_harness import ChannelCase, ChorusUnderTest, run_case
from tests.twilio_fakes import (
    AUTH_TOKEN,
    SMS_URL,
    Phone,
    every_row,
    new_sid,
    no_phone_number_is_stored,
    running_chorus,
    sms_fields,
    twilio_settings,
    twilio_signature,
)

AMIRA, BOB = "+447700900101", "+447700900202"


async def count(store: Store, model, *where) -> int:
    async with store.reader() as unit:
        return await unit.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
async def chorus(database_url: str) -> AsyncIterator[Runtime]:
    async with running_chorus(twilio_settings(database_url)) as runtime:
        yield runtime


def store_of(runtime: Runtime) -> Store:
    return runtime.services.store


# --- The webhook's answers, as a table of recorded payloads run by the channel harness --


def sms_form(number: str, body: str, sid: str, *, drop=(), extra=()) -> bytes:
    """A message as Twilio posts it, with fields dropped or added."""
    fields = sms_fields(number, body, sid)
    return urlencode([(k, v) for k, v in fields if k not in drop] + list(extra)).encode()


class SmsDriver:
    """How the harness signs Twilio's SMS webhook and reads the TwiML replies.

    Signers: valid, none, forged (another auth token), local-url (signed for the URL
    Chorus sees rather than the public one), tampered (the Body changed after signing),
    default-port (the public URL with :443 added, as Twilio sometimes signs it),
    not-ascii (a header no signature can be)."""

    channel = "sms"
    path = "/webhooks/sms"

    def sign(self, url: str, body: bytes, signer: str) -> dict[str, str]:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signer == "none":
            return headers
        try:
            fields = parse_qsl(body.decode("ascii"), keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            fields = []
        if signer == "tampered":
            fields = [(k, "different" if k == "Body" else v) for k, v in fields]
        if signer == "not-ascii":
            headers["X-Twilio-Signature"] = "signé\u00ff=="
            return headers
        token = "another-token-entirely-0123456789" if signer == "forged" else AUTH_TOKEN
        signed = {"local-url": url, "default-port": SMS_URL.replace(".org/", ".org:443/")}
        headers["X-Twilio-Signature"] = twilio_signature(token, signed.get(signer, SMS_URL), fields)
        return headers

    async def replies(self, chorus, answer: str, sender: str) -> list[str]:
        return [m.text or "" for m in ET.fromstring(answer).iter("Message")]


_SID = new_sid("SM")
_START = sms_form(AMIRA, "START", _SID)
_DELIVERED = (("MessageStatus", "delivered"),)

SMS_CASES = [
    ChannelCase(
        "a signed text",
        _START,
        200,
        text="Do you agree to take part?",
        sender=AMIRA,
        external_id=_SID,
        makes_person=False,  # answered, but no row before consent (issue 16)
    ),
    ChannelCase(
        "a delivery report sent to this URL",
        sms_form(
            AMIRA, "x", _SID, drop=("Body", "SmsStatus"), extra=(("MessageStatus", "delivered"),)
        ),
        200,
        sender=AMIRA,
        makes_person=False,
    ),
    ChannelCase("no signature", _START, 403, signer="none", sender=AMIRA, external_id=_SID),
    ChannelCase("signed with another token", _START, 403, signer="forged", sender=AMIRA),
    ChannelCase(
        "signed for the URL Chorus sees, not the public one", _START, 403, signer="local-url"
    ),
    ChannelCase("body changed after signing", _START, 403, signer="tampered", sender=AMIRA),
    ChannelCase(
        "signed for the public URL with its default port",
        _START,
        200,
        signer="default-port",
        sender=AMIRA,
        external_id=_SID,
        makes_person=False,
    ),
    ChannelCase("a signature header that is not ASCII", _START, 403, signer="not-ascii"),
    ChannelCase("no MessageSid", sms_form(AMIRA, "START", _SID, drop=("MessageSid",)), 400),
    ChannelCase("no From", sms_form(AMIRA, "START", _SID, drop=("From",)), 400),
    ChannelCase("no Body", sms_form(AMIRA, "START", _SID, drop=("Body",)), 400, sender=AMIRA),
    ChannelCase(
        "JSON instead of a form",
        _START,
        400,
        headers=(("Content-Type", "application/json"),),
        sender=AMIRA,
    ),
    ChannelCase("bytes that are not UTF-8", b"Body=%FF%FE&From=%2B447700900101", 400),
    ChannelCase("an oversized body", _START + b"&Padding=" + b"x" * (300 * 1024), 413),
]


@pytest.fixture
async def sms_chorus(database_url: str) -> AsyncIterator[ChorusUnderTest]:
    async with ChorusUnderTest(twilio_settings(database_url)) as running:
        yield running


@pytest.mark.parametrize("case", SMS_CASES, ids=[case.label for case in SMS_CASES])
async def test_webhook_answers(case: ChannelCase, sms_chorus: ChorusUnderTest) -> None:
    await run_case(sms_chorus, SmsDriver(), case)
    stored = 1 if case.external_id and case.status == 200 else 0
    assert await count(store_of_chorus(sms_chorus), ProcessedMessage) == stored


def store_of_chorus(chorus: ChorusUnderTest) -> Store:
    return chorus.services.store


# --- A whole journey --------------------------------------------------------------------


def check_segments(messages: list[str]) -> None:
    for message in messages:
        measured = measure(message)
        assert measured.segments <= 2, (measured, message)


async def test_whole_journey_from_two_phones(chorus: Runtime, http: aiohttp.ClientSession) -> None:
    store = store_of(chorus)
    amira, bob = Phone(http, chorus.port, AMIRA), Phone(http, chorus.port, BOB)

    welcome_texts = await amira.text("Hello")
    check_segments(welcome_texts)  # the question and the privacy notice: two texts
    welcome = "\n".join(welcome_texts)
    assert len(welcome_texts) == 2 and "Our question: What one change" in welcome
    assert "We keep your ideas" in welcome and "Reply YES or NO" in welcome
    [role] = await amira.text("YES")
    assert role.endswith(
        "Reply 1 AHP, 2 Other staff, 3 Patient, 4 Carer, 5 Public, 6 Student, 7 Prefer not to say"
    )
    [profession] = await amira.text("1")
    assert "11 Physio" in profession and "14 SLT, 15 Prefer not to say" in profession
    await amira.text("11")
    await amira.text("london")
    [menu] = await amira.text("skip")
    assert "Thank you. You are all set." in menu
    assert menu.endswith("Reply 1 Idea, 2 Vote, 3 Comment, 4 Help")
    [ask] = await amira.text("1")
    assert ask.startswith("What is your idea?")
    long_idea = (
        "Put a physiotherapist in every GP surgery so that people with back pain, "
        "arthritis and sports injuries can be seen the same week instead of waiting months. "
    ) * 4
    [saved] = await amira.text(long_idea.strip())
    assert "saved as idea" in saved and "Reply YES or NO" in saved  # two replies, one SMS
    [news] = await amira.text("YES")
    assert "We will send you news" in news
    assert await count(store, Contact) == 1

    await bob.text("START")
    await bob.text("yes")
    for answer in ("3", "skip", "skip"):  # patient
        await bob.text(answer)
    [card] = await bob.text("VOTE")
    assert card.startswith("Idea ") and "..." in card  # the long idea, shortened to fit
    assert card.endswith("Reply 1 Agree, 2 Disagree, 3 Skip")
    assert measure(card).segments == 2
    [comment_prompt] = await bob.text("COMMENT")
    assert "..." in comment_prompt and "Your comment is for idea 1" in comment_prompt
    assert "Send SKIP to stop." in comment_prompt and comment_prompt.endswith("Reply 1 Cancel")
    [comment_saved] = await bob.text("Yes, and the same for physio in care homes")
    assert "comment" in comment_saved
    await bob.text("VOTE")
    [done] = await bob.text("1")
    assert "You have seen all the ideas" in done
    async with store.reader() as unit:
        vote = await unit.session.scalar(select(Vote))
        idea = await unit.session.scalar(select(Contribution).where(Contribution.kind == "idea"))
    assert vote.value == 1 and vote.channel == "sms" and vote.role == "patient"
    assert idea.channel == "sms" and idea.text == long_idea.strip() and idea.region == "london"

    [mydata] = await amira.text("MYDATA")
    assert "ideas: 1" in mydata and "Physiotherapist" in mydata
    [helped] = await amira.text("HELP")
    assert "STOP" in helped and measure(helped).segments == 1

    await no_phone_number_is_stored(store, (AMIRA, BOB))  # the one number kept is encrypted

    [confirm] = await amira.text("FORGET")
    assert "Reply YES to delete" in confirm
    [gone] = await amira.text("YES")
    assert "We have deleted your data" in gone
    assert await count(store, Contact) == 0
    assert await count(store, Vote) == 0  # bob's vote went with amira's idea

    everything = amira.inbox + bob.inbox
    check_segments(everything)
    english_only = [m for m in everything if "..." not in m]
    assert all(measure(m).encoding == GSM7 for m in english_only)


async def test_the_phone_number_check_can_fail(chorus: Runtime) -> None:
    async with store_of(chorus).transaction() as unit:
        await unit.participants.create("p", "sms", chorus.services.engine.clock())
    await no_phone_number_is_stored(store_of(chorus), (AMIRA, BOB))
    async with store_of(chorus).transaction() as unit:
        leak = Participant.__table__.update().values(state={"note": "07700 900101"})
        await unit.session.execute(leak)
    with pytest.raises(AssertionError):
        await no_phone_number_is_stored(store_of(chorus), (AMIRA, BOB))


# --- Replays, opting out, opting in --------------------------------------------------------


async def test_a_replayed_message_sid_is_applied_once(
    chorus: Runtime, http: aiohttp.ClientSession
) -> None:
    amira = Phone(http, chorus.port, AMIRA)
    for word in ("START", "yes", "skip", "skip", "skip"):
        await amira.text(word)
    sid = new_sid("SM")
    first = await amira.send("Walk-in physio clinics at the weekend", sid=sid)
    again = await amira.send("Walk-in physio clinics at the weekend", sid=sid)
    assert first.status == again.status == 200
    # Applied once, and answered the same way: Twilio resends when our answer was lost.
    assert first.messages and again.messages == first.messages
    assert await count(store_of(chorus), Contribution) == 1


async def test_stop_then_a_message_then_start(chorus: Runtime, http: aiohttp.ClientSession) -> None:
    store = store_of(chorus)
    bob = Phone(http, chorus.port, BOB)
    await bob.text("START")
    await bob.text("yes")
    await bob.text("1")  # AHP: which profession? (a question is open)
    stopped = await bob.send("STOP")
    assert stopped.status == 200 and stopped.messages == []  # Twilio confirms STOP itself
    async with store.reader() as unit:
        row = await unit.session.scalar(select(Participant))
    assert row.opted_out and row.answers == {}
    before = await every_row(store)
    for text in ("Physios in schools", "HELP", "7", "", "x" * 3000):
        answer = await bob.send(text)
        assert answer.status == 200 and answer.messages == [], text
    assert await every_row(store) == before  # nothing stored at all, not even a message id
    assert await count(store, Contribution) == 0
    back = await bob.text("START")
    assert "Welcome back" in back[0]
    assert "Which allied health job do you do?" in "\n".join(back)  # the open question again
    check_segments(back)
    async with store.reader() as unit:
        assert not (await unit.session.scalar(select(Participant))).opted_out


async def test_stop_is_confirmed_when_the_gateway_does_not(database_url: str) -> None:
    settings = twilio_settings(database_url, confirm_opt_out=True)
    async with running_chorus(settings) as chorus, aiohttp.ClientSession() as http:
        amira = Phone(http, chorus.port, AMIRA)
        await amira.text("START")
        [confirmation] = await amira.text("stop")
        assert "no more messages" in confirmation
        assert await amira.text("hello?") == []


# --- Text that is long or not English -------------------------------------------------------


async def test_long_and_unusual_text_is_stored_intact_after_redaction(
    chorus: Runtime, http: aiohttp.ClientSession
) -> None:
    store = store_of(chorus)
    amira, bob = Phone(http, chorus.port, AMIRA), Phone(http, chorus.port, BOB)
    for phone in (amira, bob):
        for word in ("START", "yes", "skip", "skip", "skip"):
            await phone.text(word)
    long_text = ("Longer appointments for people with dementia and their carers. " * 30)[:1600]
    texts = [
        long_text,
        "More community rehab \U0001f44d\U0001f3fd please \u2764\ufe0f",
        "Mae angen mwy o ffisiotherapyddion yn y gymuned \u0175 \u0177, ffoniwch 07700 900123",
        "Potrzebujemy więcej fizjoterapeutów \u2013 zażółć gęślą jaźń",
    ]
    for text in texts:
        replies = await amira.text(text)
        assert replies, text
        await amira.text("no")  # no news, thanks (asked once)
        check_segments(replies)
    async with store.reader() as unit:
        stored = list(
            await unit.session.scalars(select(Contribution.text).order_by(Contribution.id))
        )
    assert len(long_text) == 1600 and stored[0] == long_text
    assert stored[1] == texts[1] and stored[3] == texts[3]
    assert stored[2] == texts[2].replace("07700 900123", "[phone]")
    await no_phone_number_is_stored(store, (AMIRA, BOB, "+447700900123"))
    # Shown for voting, the emoji and Polish ideas need UCS-2 and still fit in two segments.
    cards = []
    while True:
        [card] = await bob.text("VOTE" if not cards else "3")
        if not card.startswith("Idea "):
            break
        cards.append(card)
    assert len(cards) == 4
    check_segments(cards)
    assert {measure(card).encoding for card in cards} == {GSM7, "UCS-2"}


# --- The store is down -----------------------------------------------------------------------


async def test_the_webhook_answers_503_when_the_store_is_down(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    database = tmp_path / "gone.db"
    async with running_chorus(twilio_settings(f"sqlite+aiosqlite:///{database}")) as chorus:
        # Stop the background jobs first, so none holds a connection across the break.
        for job in chorus._jobs:
            job.cancel()
        await asyncio.gather(*chorus._jobs, return_exceptions=True)
        # And the warming's reads: disposing the pool under a connection still checked
        # out leaves that connection to the garbage collector, unclosed.
        await chorus.services.warming.wait()
        if chorus.services.alike_warming is not None:
            await chorus.services.alike_warming
        await chorus.services.store.engine.dispose()
        database.unlink()
        database.mkdir()  # a directory where the database file was: cannot be opened
        answer = await Phone(http, chorus.port, AMIRA).send("START")
    assert answer.status == 503
