"""Follow-up messages: sent once to people who asked for them, and each kind of send
failure judged by the core (retry, wait, give up, mark unreachable)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from bot.channels.base import BadRequest, Channel, ContactStopped, Throttled
from bot.delivery import Delivery
from bot.metrics import Metrics
from bot.outbox import OutboxDispatcher
from bot.services import Services
from handlers.engine import Engine
from handlers.types import Reply
from storage.models import OutboxMessage, Participant
from tests.people import Person


class RecordingChannel(Channel):
    name = "sms"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.failures: list[Exception] = []

    async def deliver(self, address: str, replies: Sequence[Reply]) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent += [(address, reply.text) for reply in replies]


def services_for(engine: Engine) -> Services:
    metrics = Metrics()
    return Services(
        settings=None,  # the dispatcher needs only the store, engine and cipher
        store=engine.store,
        engine=engine,
        contacts=engine.contacts,
        metrics=metrics,
        delivery=Delivery(engine, metrics),
    )


async def opted_in_person(engine: Engine, number: str) -> int:
    person = Person(engine, number, channel="sms")
    await person.join()
    await person.say("idea Evening physio clinics for working people")
    await person.say("yes")
    async with engine.store.reader() as unit:
        return (await unit.participants.find(person.pseudonym, lock=False)).id


async def queue(engine: Engine, participant_id: int, text: str) -> None:
    async with engine.store.transaction() as unit:
        await unit.outbox.enqueue(participant_id, "sms", text, engine.clock())


async def outbox_rows(engine: Engine) -> list[OutboxMessage]:
    async with engine.store.reader() as unit:
        return list(await unit.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_a_follow_up_is_sent_once_to_the_decrypted_address(engine: Engine) -> None:
    person = await opted_in_person(engine, "+447700900111")
    await queue(engine, person, "Your idea was joined with a similar one.")
    channel = RecordingChannel()
    dispatcher = OutboxDispatcher(services_for(engine), {"sms": channel})
    assert await dispatcher.run_once() == 1
    assert await dispatcher.run_once() == 0
    assert channel.sent == [("+447700900111", "Your idea was joined with a similar one.")]
    assert [row.status for row in await outbox_rows(engine)] == ["sent"]


async def test_throttling_waits_and_a_stopped_contact_is_marked_unreachable(
    engine: Engine, clock
) -> None:
    person = await opted_in_person(engine, "+447700900222")
    await queue(engine, person, "News one")
    channel = RecordingChannel()
    channel.failures = [Throttled("slow down", retry_after=120)]
    dispatcher = OutboxDispatcher(services_for(engine), {"sms": channel})
    assert await dispatcher.run_once() == 0
    row = (await outbox_rows(engine))[0]
    assert row.status == "queued" and row.attempts == 1
    assert await dispatcher.run_once() == 0  # not due yet
    clock.advance(seconds=121)
    channel.failures = [ContactStopped("21610: unsubscribed")]
    assert await dispatcher.run_once() == 0
    assert (await outbox_rows(engine))[0].status == "failed"
    async with engine.store.reader() as unit:
        assert (await unit.session.get(Participant, person)).unreachable is True
    await queue(engine, person, "News two")
    assert await dispatcher.run_once() == 0  # an unreachable person is not tried again
    assert channel.sent == []


async def test_a_refused_message_is_dropped_and_others_retry_with_backoff(
    engine: Engine, clock
) -> None:
    person = await opted_in_person(engine, "+447700900333")
    await queue(engine, person, "Bad one")
    await queue(engine, person, "Good one")
    channel = RecordingChannel()
    channel.failures = [BadRequest("invalid body"), ConnectionResetError("network down")]
    dispatcher = OutboxDispatcher(services_for(engine), {"sms": channel})
    await dispatcher.run_once()
    statuses = [(row.status, row.attempts) for row in await outbox_rows(engine)]
    assert statuses == [("failed", 1), ("queued", 1)]
    clock.advance(seconds=31)
    assert await dispatcher.run_once() == 1
    assert channel.sent == [("+447700900333", "Good one")]


async def test_a_kept_copy_is_dropped_once_its_person_has_written_again(
    engine: Engine, clock, caplog
) -> None:
    """Copies of replies left by a process that died (bot/channels/unsent_replies.py):
    Rosa wrote again after hers was kept, and was answered from where she now is, so
    hers would show an old step and is dropped; Sam did not, and gets his."""
    channel = RecordingChannel()
    dispatcher = OutboxDispatcher(services_for(engine), {"sms": channel})
    rosa, sam = Person(engine, "+447700900131", "sms"), Person(engine, "+447700900132", "sms")
    for person in (rosa, sam):
        await person.join()
        await person.say("VOTE")
        await engine.keep_for_later("sms", person.sender, "1. Agree\n2. Disagree")
    clock.advance(seconds=30)
    await rosa.say("IDEA")  # written again: her step moves on
    caplog.set_level("INFO", logger="bot.outbox")
    assert await dispatcher.run_once() == 1
    assert [address for address, _text in channel.sent] == [sam.sender]
    assert "Sorry for the wait" in channel.sent[0][1]
    assert [row.status for row in await outbox_rows(engine)] == ["sent"]
    assert "the person has written since" in caplog.text
    assert rosa.sender not in caplog.text
