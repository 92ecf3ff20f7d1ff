"""The voice channel (phone menu) over real HTTP against Chorus's own server, with
requests signed as Twilio signs them, on SQLite and PostgreSQL: consent by key before
anything is kept, an idea by speech (redacted, read back, stored with channel voice),
the three least-voted ideas read out and voted on with 1/2/3, the privacy notice,
deleting one's data, silence, replays, hidden numbers and forged requests."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.runtime import Runtime
from handlers.flows.call import pressed, spoken
from storage.database import Store
from storage.models import Contribution, Participant, ProcessedMessage, Vote
from storage.records import NewContribution, Profile
from tests.twilio_fakes import (
    VOICE_URL,
    Caller,
    no_phone_number_is_stored,
    post_signed,
    running_chorus,
    twilio_settings,
)

CAROL, DAVE = "+441632960001", "+441632960002"


@pytest.fixture
async def chorus(database_url: str) -> AsyncIterator[Runtime]:
    async with running_chorus(twilio_settings(database_url)) as runtime:
        yield runtime


async def count(store: Store, model, *where) -> int:
    async with store.reader() as unit:
        return await unit.session.scalar(select(func.count()).select_from(model).where(*where))


async def joined(http: aiohttp.ClientSession, chorus: Runtime, number: str) -> Caller:
    caller = Caller(http, chorus.port, number)
    await caller.dial()
    await caller.press("1")
    return caller


async def test_a_call_through_consent_idea_and_voting(
    chorus: Runtime, http: aiohttp.ClientSession
) -> None:
    store = chorus.services.store
    carol = Caller(http, chorus.port, CAROL)
    turn = await carol.dial()
    assert "Welcome to AHPs into Action" in turn.said and "not your name" in turn.said
    assert "Press 1 to agree" in turn.said
    assert turn.gather["input"] == "speech dtmf" and turn.gather["numDigits"] == "1"
    assert turn.gather["action"] == f"{VOICE_URL}?turn=1"
    assert await count(store, Participant) == 0  # nothing is kept before they agree

    turn = await carol.press("1")
    assert "Thank you for taking part" in turn.said and "Press 1 to share an idea" in turn.said
    async with store.reader() as unit:
        person = await unit.session.scalar(select(Participant))
    assert person.consent_at is not None and person.channel == "voice"
    turn = await carol.press("1")
    assert "Please say your idea" in turn.said and "hints" not in turn.gather
    turn = await carol.speak("More physios in GP surgeries. Call me on 07700 900123")
    assert turn.said.startswith("You said: More physios in GP surgeries. Call me on [phone]")
    assert await count(store, Contribution) == 0  # not before they confirm
    turn = await carol.press("1")
    assert "Your idea is saved as idea" in turn.said and "Press 2 to hear ideas" in turn.said
    async with store.reader() as unit:
        idea = await unit.session.scalar(select(Contribution))
    assert idea.channel == "voice" and idea.kind == "idea" and idea.redactions == ["phone"]
    assert idea.text == "More physios in GP surgeries. Call me on [phone]"

    # Five more ideas, with votes already on some, so "the fewest votes" means something.
    ids = await seed_ideas(chorus, votes=[3, 0, 2, 1, 0])
    dave = await joined(http, chorus, DAVE)
    turn = await dave.press("2")
    order = await fewest_votes_first(store, exclude=())
    assert "Here are the ideas with the fewest votes." in turn.said
    assert f"Idea {order[0]}." in turn.said and "Press 1 to agree" in turn.said
    for key, idea_id in zip(("1", "2", "3"), order[:3], strict=True):
        assert f"Idea {idea_id}." in turn.said
        turn = await dave.press(key)
    assert "Your votes are saved" in turn.said and "Press 1 to share an idea" in turn.said
    pseudonym = chorus.services.engine.pseudonym("voice", DAVE)
    async with store.reader() as unit:
        dave_id = (await unit.participants.find(pseudonym, lock=False)).id
        dave_votes = {
            v.contribution_id: v.value
            for v in await unit.session.scalars(select(Vote).where(Vote.participant_id == dave_id))
        }
    assert dave_votes == {order[0]: 1, order[1]: -1, order[2]: 0}
    assert order[:3] == [idea.id, ids[1], ids[4]]  # the three with no votes yet

    turn = await dave.press("9")
    assert "We keep your ideas and votes" in turn.said and "Press 1 to share" in turn.said
    turn = await dave.speak("Press two.")  # spoken keys work too
    assert "Idea" in turn.said or "no new ideas" in turn.said
    # Neither caller's number, nor the one Carol said, is anywhere in the store.
    await no_phone_number_is_stored(store, (CAROL, DAVE, "+447700900123"))


async def seed_ideas(chorus: Runtime, votes: list[int]) -> list[int]:
    """Ideas by other people with the given numbers of agree votes already on them."""
    engine = chorus.services.engine
    question = engine.question_ids[engine.config.questions[0].key]
    ids = []
    async with chorus.services.store.transaction() as unit:
        author = await unit.participants.create("seed-author", "console", engine.clock())
        voters = [
            await unit.participants.create(f"seed-voter-{n}", "console", engine.clock())
            for n in range(max(votes))
        ]
        for number, wanted in enumerate(votes):
            idea = await unit.contributions.add(
                NewContribution(
                    kind="idea",
                    participant_id=author.id,
                    text=f"Seeded idea number {number} about rehab",
                    channel="console",
                    channel_message_id=f"seed-{number}",
                    label="neutral",
                    created_at=engine.clock(),
                    question_id=question,
                )
            )
            ids.append(idea.id)
            for voter in voters[:wanted]:
                await unit.votes.cast(
                    voter.id, idea.id, 1, channel="console", profile=Profile(), now=engine.clock()
                )
    return ids


async def fewest_votes_first(store: Store, exclude: tuple[int, ...]) -> list[int]:
    async with store.reader() as unit:
        rows = await unit.session.execute(
            select(Contribution.id)
            .where(Contribution.kind == "idea", Contribution.id.not_in(exclude))
            .order_by(Contribution.vote_count, Contribution.id)
        )
        return [row[0] for row in rows]


async def test_saying_no_to_consent_keeps_nothing_and_hangs_up(
    chorus: Runtime, http: aiohttp.ClientSession
) -> None:
    carol = Caller(http, chorus.port, CAROL)
    await carol.dial()
    turn = await carol.press("2")
    assert turn.hung_up and "We have kept nothing about you" in turn.said
    async with chorus.services.store.reader() as unit:
        person = await unit.session.scalar(select(Participant))
    assert person.refused_at is not None and person.consent_at is None and person.answers == {}
    # Only the refusal, as on every channel: not the call, nor where the caller was.
    assert person.state == {"step": "refused"} and person.language is None
    again = await Caller(http, chorus.port, CAROL).dial()  # a later call asks again
    assert "Press 1 to agree" in again.said


async def test_no_participant_row_before_the_caller_agrees(
    chorus: Runtime, http: aiohttp.ClientSession
) -> None:
    store = chorus.services.store
    # Hanging up at the privacy notice: Twilio's status report, then nothing.
    carol = Caller(http, chorus.port, CAROL)
    await carol.dial()
    await carol.post(carol.next_url, carol.fields(CallStatus="completed"))
    # Listening to the notice again, a key that does nothing, a resent request.
    dave = Caller(http, chorus.port, DAVE)
    await dave.dial()
    turn = await dave.press("9")
    assert "We keep your ideas and votes" in turn.said and "Press 1 to agree" in turn.said
    turn = await dave.press("5")
    assert "that key does not do anything" in turn.said and "Press 1 to agree" in turn.said
    replayed = await dave.post(VOICE_URL + "?turn=2", dave.fields(Digits="5"))
    assert "Press 1 to agree" in replayed.said
    assert await count(store, Participant) == 0
    # Agreeing at a later turn of the call works without a stored step, and only then
    # is the row created.
    turn = await dave.press("1")
    assert "Thank you for taking part" in turn.said
    assert await count(store, Participant) == 1
    assert await count(store, Participant, Participant.consent_at.is_not(None)) == 1


async def test_silence_at_the_consent_question_ends_the_call_and_keeps_nothing(
    chorus: Runtime, http: aiohttp.ClientSession
) -> None:
    carol = Caller(http, chorus.port, CAROL)
    await carol.dial()
    for _ in range(2):
        turn = await carol.stay_silent()
        assert turn.said.startswith("Sorry, we did not hear that.") and not turn.hung_up
        assert "Press 1 to agree" in turn.said
    turn = await carol.stay_silent()
    assert turn.hung_up and "Goodbye" in turn.said
    assert await count(chorus.services.store, Participant) == 0


async def test_pressing_8_deletes_what_the_caller_told_us(
    chorus: Runtime, http: aiohttp.ClientSession
) -> None:
    carol = await joined(http, chorus, CAROL)
    await carol.press("1")
    await carol.speak("Home visits by occupational therapists")
    await carol.press("1")
    assert await count(chorus.services.store, Contribution) == 1
    turn = await carol.press("8")
    assert "Press 1 to delete them" in turn.said
    turn = await carol.press("2")
    assert "kept all your data" in turn.said and not turn.hung_up
    await carol.press("8")
    turn = await carol.press("1")
    assert turn.hung_up and "We have deleted your ideas and votes" in turn.said
    assert await count(chorus.services.store, Contribution) == 0
    assert await count(chorus.services.store, Participant) == 0


async def test_silence_repeats_the_question_then_ends_the_call(
    chorus: Runtime, http: aiohttp.ClientSession
) -> None:
    carol = await joined(http, chorus, CAROL)
    turn = await carol.stay_silent()
    assert turn.said.startswith("Sorry, we did not hear that.") and "Press 1" in turn.said
    await carol.press("5")  # a key that does nothing does not end the call
    assert "that key does not do anything" in carol.last.said
    await carol.stay_silent()
    turn = await carol.stay_silent()
    assert turn.hung_up and "Goodbye" in turn.said


async def test_saying_it_again_and_pressing_a_key_instead_of_speaking(
    chorus: Runtime, http: aiohttp.ClientSession
) -> None:
    carol = await joined(http, chorus, CAROL)
    await carol.press("1")
    await carol.speak("Fizz yo there a pea")  # misheard
    turn = await carol.press("2")
    assert "Please say your idea" in turn.said
    await carol.speak("Physiotherapy at home after a stroke")
    await carol.press("1")
    turn = await carol.press("1")
    turn = await carol.press("#")  # a key while asked to speak: back to the menu
    assert "Press 1 to share an idea" in turn.said
    async with chorus.services.store.reader() as unit:
        texts = list(await unit.session.scalars(select(Contribution.text)))
    assert texts == ["Physiotherapy at home after a stroke"]


async def test_a_replayed_request_repeats_the_prompt_and_changes_nothing(
    chorus: Runtime, http: aiohttp.ClientSession
) -> None:
    carol = await joined(http, chorus, CAROL)
    await carol.press("1")
    await carol.speak("Walk-in physio clinics")
    confirm_url = carol.next_url
    first = await carol.post(confirm_url, carol.fields(Digits="1"))
    replayed = await carol.post(confirm_url, carol.fields(Digits="1"))
    assert "saved as idea" in first.said
    assert "saved as idea" not in replayed.said and "Press 1 to share an idea" in replayed.said
    assert await count(chorus.services.store, Contribution) == 1


async def test_callers_who_hide_their_number_are_told_apart_by_call(
    chorus: Runtime, http: aiohttp.ClientSession
) -> None:
    for hidden in ("anonymous", "+266696687"):
        caller = Caller(http, chorus.port, hidden)
        await caller.dial()
        await caller.press("1")
    assert await count(chorus.services.store, Participant) == 2


@pytest.mark.parametrize(
    ("label", "fields", "signing", "status"),
    [
        ("forged", [("CallSid", "CA1"), ("From", CAROL)], "forged", 403),
        ("unsigned", [("CallSid", "CA1"), ("From", CAROL)], "none", 403),
        ("no CallSid", [("From", CAROL)], "valid", 400),
        ("no From", [("CallSid", "CA1")], "valid", 400),
        ("odd CallSid", [("CallSid", "CA:1"), ("From", CAROL)], "valid", 400),
        (
            "a call over",
            [("CallSid", "CA1"), ("From", CAROL), ("CallStatus", "completed")],
            "valid",
            200,
        ),
    ],
)
async def test_forged_and_malformed_calls_are_refused(
    label: str,
    fields: list,
    signing: str,
    status: int,
    chorus: Runtime,
    http: aiohttp.ClientSession,
) -> None:
    kwargs = {
        "valid": {},
        "forged": {"token": "not-the-real-auth-token-0123456789"},
        "none": {"signature": ""},
    }[signing]
    answer = await post_signed(
        http, f"http://127.0.0.1:{chorus.port}/webhooks/voice", VOICE_URL, fields, **kwargs
    )
    assert answer.status == status, label
    assert await count(chorus.services.store, ProcessedMessage) == 0
    assert await count(chorus.services.store, Participant) == 0


async def test_a_bad_turn_number_is_refused(chorus: Runtime, http: aiohttp.ClientSession) -> None:
    url = f"{VOICE_URL}?turn=abc"
    answer = await post_signed(
        http,
        f"http://127.0.0.1:{chorus.port}/webhooks/voice?turn=abc",
        url,
        [("CallSid", "CA1"), ("From", CAROL), ("Digits", "1")],
    )
    assert answer.status == 400


@pytest.mark.parametrize(
    ("heard", "key"),
    [
        ("1", "1"),
        ("One.", "1"),
        ("Press two", "2"),
        ("agree", "1"),
        ("Disagree.", "2"),
        ("I don't agree", None),
        ("Skip", "3"),
        ("the number nine", "9"),
        ("tell me more about physio", None),
    ],
)
def test_spoken_and_pressed_keys(heard: str, key: str | None) -> None:
    words = {"agree": "1", "disagree": "2", "skip": "3"}
    assert pressed(heard, words) == key


def test_ideas_read_aloud_are_short() -> None:
    assert spoken("Short idea.") == "Short idea"
    long = "word " * 200
    read = spoken(long)
    assert len(read) <= 303 and read.endswith("...")


async def test_an_alike_idea_is_read_out_before_storing(
    chorus: Runtime, http: aiohttp.ClientSession
) -> None:
    store = chorus.services.store
    carol = await joined(http, chorus, CAROL)
    await carol.press("1")
    await carol.speak("Free parking at hospitals for carers and patients")
    await carol.press("1")
    async with store.reader() as unit:
        parking = await unit.session.scalar(select(Contribution))

    dave = await joined(http, chorus, DAVE)
    await dave.press("1")
    await dave.speak("Free parking for carers and patients at hospitals")
    turn = await dave.press("1")
    assert "sounds like one we have" in turn.said
    assert f"Press 1 for idea {parking.idea_number}: Free parking at hospitals" in turn.said
    assert "Press 2 if yours is different" in turn.said
    turn = await dave.press("1")
    assert f"We added your vote to idea {parking.idea_number}" in turn.said
    assert "Press 1 to share an idea" in turn.said
    assert await count(store, Contribution) == 1
    assert await count(store, Vote, Vote.contribution_id == parking.id, Vote.value == 1) == 1

    await dave.press("1")
    await dave.speak("Free parking at hospitals for carers and patients and staff")
    await dave.press("1")
    turn = await dave.press("2")  # mine is different
    assert "Your idea is saved as idea" in turn.said
    assert await count(store, Contribution) == 2

    await dave.press("1")
    await dave.speak("No free parking at hospitals for carers and patients")  # the opposite
    turn = await dave.press("1")
    assert "Your idea is saved as idea" in turn.said
    assert await count(store, Contribution) == 3


async def test_a_call_keeps_the_alike_setting_and_the_same_idea_rule(database_url: str) -> None:
    """With `consultation.offer_alike: false` no idea is read out as alike on a call, as
    on every other channel; and the same idea said twice is stored once, as typed."""
    settings = twilio_settings(database_url)
    consultation = settings.file.consultation.model_copy(update={"offer_alike": False})
    settings = dataclasses.replace(
        settings, file=settings.file.model_copy(update={"consultation": consultation})
    )
    async with running_chorus(settings) as chorus, aiohttp.ClientSession() as http:
        store = chorus.services.store
        carol = await joined(http, chorus, CAROL)
        await carol.press("1")
        await carol.speak("Free parking at hospitals for carers and patients")
        await carol.press("1")
        dave = await joined(http, chorus, DAVE)
        await dave.press("1")
        await dave.speak("Free parking for carers and patients at hospitals")
        turn = await dave.press("1")
        assert "sounds like one we have" not in turn.said
        assert "Your idea is saved as idea" in turn.said
        await dave.press("1")
        await dave.speak("Free parking for carers and patients at hospitals")
        turn = await dave.press("1")  # the same words again: not stored twice
        assert "Your idea is saved" not in turn.said
        assert "Press 1 to share an idea" in turn.said
        assert await count(store, Contribution) == 2
