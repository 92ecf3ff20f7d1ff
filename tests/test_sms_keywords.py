"""Phone-network keywords on SMS, straight through the engine (fast, at every step): STOP
and its spellings are never taken as an answer, only the keyword alone counts, HELP fits
one segment, opting back in, and no phone number in a kept failed message."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.channels.sms_render import render_sms
from bot.channels.sms_segments import measure
from handlers.dead_letters import keep_failed, retry_failed
from handlers.types import Inbound
from storage.database import Store
from storage.models import Contribution, Participant
from tests.people import Person
from tests.twilio_fakes import new_sid

AMIRA = "+447700900101"


async def count(store: Store, model, *where) -> int:
    async with store.reader() as unit:
        return await unit.session.scalar(select(func.count()).select_from(model).where(*where))


async def step_of(store: Store, phone: Person) -> str:
    """The step a person is at; before consent there is no row (issue 16), and a
    stranger's next message is read as an answer to the consent question."""
    row = await participant_of(store, phone)
    return row.state["step"] if row is not None else "consent"


STOP_WORDS = [
    "STOP", "stop", " Stop. ", "STOPALL", "stop all", "Unsubscribe", "CANCEL", "end",
    "Quit!", "opt-out", "REVOKE", "\uff33\uff34\uff2f\uff30",  # the last in full-width letters
]  # fmt: skip
# What to send to be left at each step with a question open.
TO_STEP = {
    "consent": ["START"],
    "gateway": ["START", "yes", "1"],
    "idea": ["START", "yes", "skip", "skip", "skip", "IDEA"],
    # (the same idea sent before is offered as alike; this one is stored all the same)
    "followup": [
        "START",
        "yes",
        "skip",
        "skip",
        "skip",
        "idea Walk-in physio clinics",
        "mine is different",
    ],  # fmt: skip
    "alike": ["START", "yes", "skip", "skip", "skip", "idea Walk-in physio clinics"],
    "choose_comment": ["START", "yes", "skip", "skip", "skip", "COMMENT"],
    "vote": ["START", "yes", "skip", "skip", "skip", "VOTE"],
    "comment": ["START", "yes", "skip", "skip", "skip", "VOTE", "COMMENT"],
    "forget": ["START", "yes", "skip", "skip", "skip", "FORGET"],
}


async def test_stop_words_are_never_taken_as_an_answer(engine, store: Store) -> None:
    author = Person(engine, "+447700900999", channel="sms")
    for text in TO_STEP["alike"]:  # an idea to vote and comment on (the first: no offer)
        await author.say(text)
    for step, path in TO_STEP.items():
        for number, word in enumerate(STOP_WORDS):
            phone = Person(engine, f"+4477009{number:02d}{len(step):03d}{step[:2]}", "sms")
            for text in path:
                await phone.say(text)
            assert await step_of(store, phone) == step
            await phone.say(word)
            assert phone.keys == ["opted_out"] and phone.last.opted_out, (step, word)
    # The ideas sent on the way to the follow-up question, and not one STOP among them.
    assert await count(store, Contribution) == 1 + len(STOP_WORDS)
    assert await count(store, Contribution, Contribution.kind == "comment") == 0


async def test_help_is_answered_at_every_step_and_leaves_it_open(engine, store: Store) -> None:
    author = Person(engine, "+447700900998", channel="sms")
    for text in TO_STEP["alike"]:  # an idea to vote and comment on (the first: no offer)
        await author.say(text)
    for number, (step, path) in enumerate(TO_STEP.items()):
        phone = Person(engine, f"+44770090077{number}", "sms")
        for text in path:
            await phone.say(text)
        before = await step_of(store, phone)
        await phone.say("Help!")
        assert phone.keys == ["help_sms"], step
        assert await step_of(store, phone) == before == step, step


async def test_only_the_keyword_alone_counts(engine, store: Store) -> None:
    phone = Person(engine, "+447700900333", channel="sms")
    for text in TO_STEP["idea"]:
        await phone.say(text)
    await phone.say("Stop the cuts to community physio")
    assert phone.keys[0] == "idea_saved" and not phone.last.opted_out


async def test_help_answers_in_one_segment_and_keeps_the_question_open(
    engine, store: Store
) -> None:
    phone = Person(engine, "+447700900444", channel="sms")
    for text in TO_STEP["gateway"]:
        await phone.say(text)
    for word in ("HELP", "help", "Info"):
        await phone.say(word)
        assert phone.keys == ["help_sms"]
        [message] = render_sms(phone.last.replies)
        assert measure(message).segments == 1 and "STOP" in message
    await phone.say("11")  # still answers the open question: physiotherapist
    assert (await participant_of(store, phone)).answers["role"] == "physiotherapist"
    console = Person(engine, "someone", channel="console")
    await console.join()
    await console.say("HELP")
    assert console.keys == ["help"]  # keywords are a phone-network matter only


async def test_an_opted_out_number_is_opted_in_by_start_unstop_or_yes(engine, store: Store) -> None:
    for number, word in enumerate(("START", "unstop", "Yes")):
        phone = Person(engine, f"+44770090055{number}", channel="sms")
        await phone.say("START")
        await phone.say("STOP")
        await phone.say(word)
        # Opted in, and asked again what was open: here, whether they agree to take part.
        assert phone.keys == ["opted_in", "welcome"], word
        assert not (await participant_of(store, phone)).opted_out


async def test_opting_back_in_picks_up_where_they_were(engine, store: Store) -> None:
    """START after STOP shows what was open, so the next text is read as they expect."""
    expected = {"gateway": "gateway:role", "forget": "forget_ask", "vote": "menu"}
    for number, (step, key) in enumerate(expected.items()):
        phone = Person(engine, f"+44770090066{number}", channel="sms")
        for text in TO_STEP[step]:
            await phone.say(text)
        await phone.say("STOP")
        await phone.say("START")
        assert phone.keys == ["opted_in", key], step
        assert all(measure(text).segments <= 2 for text in render_sms(phone.last.replies))


async def participant_of(store: Store, person: Person) -> Participant:
    async with store.reader() as unit:
        return await unit.session.scalar(
            select(Participant).where(Participant.pseudonym == person.pseudonym)
        )


async def test_a_message_kept_after_a_failure_holds_no_phone_number(engine, store: Store) -> None:
    inbound = Inbound("sms", AMIRA, new_sid("SM"), engine.clock(), text="START", medium="sms")
    kept = await keep_failed(engine, inbound, RuntimeError("handling failed"))
    assert AMIRA.lstrip("+") not in kept.raw
    retried, outcome = await retry_failed(engine, kept.id)
    assert retried.sender == AMIRA and [r.key for r in outcome.replies] == ["welcome"]
