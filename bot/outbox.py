"""The background job that sends follow-up messages (e.g. "your idea was merged"), and
the copies of replies a chat channel could not send while its provider was down, once
Chorus has stopped or died (bot/channels/unsent_replies.py), which carry their own
encrypted address.

Messages are claimed in one short transaction, sent outside it (so a slow provider never
holds the store's write lock), and settled in another. A send failure is judged here,
by its type: throttled waits as asked, a stopped contact marks the person unreachable,
a refused message is dropped, anything else is retried with growing delays. A provider
that is down (Unreachable) is reported once by its channel (bot/outages.py), so each
follow-up it holds back is only a DEBUG line here.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.channels.base import (
    BadRequest,
    Channel,
    ContactStopped,
    SendError,
    Throttled,
    Unreachable,
)
from bot.retry import wait_or_stop
from bot.services import Services
from handlers.types import Reply
from storage.errors import StoreUnavailable
from storage.records import OutboxRecord, ParticipantRecord

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2**attempts))


def superseded(message: OutboxRecord, person: ParticipantRecord | None) -> bool:
    """A copy of replies a chat channel could not send (it carries its own address) is
    stale once its person has written again since it was kept: their newer message was
    answered from where the conversation now stands, so "here is our reply to your last
    message" would show an old step (a vote card for an idea they have moved past). Only
    a copy left by a process that died gets here: a running one sends its replies itself
    and drops the copy."""
    return (
        message.address_encrypted is not None
        and message.created_at is not None
        and person is not None
        and person.last_seen_at > message.created_at
    )


class OutboxDispatcher:
    def __init__(self, services: Services, channels: dict[str, Channel]) -> None:
        self.services = services
        self.channels = channels
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Have `run_forever` return once the sending under way is done."""
        self._stopping.set()

    async def run_once(self) -> int:
        """Send what is due now; returns how many were delivered."""
        engine = self.services.engine
        async with self.services.store.transaction() as unit:
            claimed = await unit.outbox.claim_due(engine.clock(), lease=LEASE)
            targets = {}
            for message in claimed:
                person = await unit.participants.get(message.participant_id)
                if superseded(message, person):
                    await unit.outbox.drop(message.id)
                    log.info("a copy of replies not sent in time was dropped: the person "
                             "has written since (outbox message %s)", message.id)  # fmt: skip
                    continue
                contact = (
                    (message.channel, message.address_encrypted)
                    if message.address_encrypted is not None
                    else await unit.participants.contact(message.participant_id)
                )
                usable = person and not person.opted_out and not person.unreachable
                targets[message.id] = contact if usable else None
        delivered = 0
        for message in claimed:
            if message.id in targets:
                delivered += await self._send(message, targets[message.id])
        return delivered

    async def _send(self, message: OutboxRecord, contact: tuple[str, bytes] | None) -> int:
        now = self.services.engine.clock()
        channel = self.channels.get(contact[0]) if contact else None
        address = self.services.contacts.decrypt(contact[1]) if contact else None
        error: SendError | None = None
        if channel is None or address is None:
            error = BadRequest("no usable contact or channel for this follow-up")
        else:
            try:
                await channel.deliver(address, [Reply(message.text, key="followup")])
            except SendError as failure:
                error = failure
            except Exception as failure:  # a network fault or a bug in an adapter
                log.exception("sending follow-up %s failed", message.id)
                error = SendError(f"{type(failure).__name__}: {failure}")
        async with self.services.store.transaction() as unit:
            if error is None:
                await unit.outbox.mark_sent(message.id)
                return 1
            if isinstance(error, ContactStopped):
                await unit.participants.update(message.participant_id, unreachable=True)
            give_up = isinstance(error, BadRequest | ContactStopped) or (
                message.attempts + 1 >= MAX_ATTEMPTS
            )
            delay = (
                timedelta(seconds=error.retry_after)
                if isinstance(error, Throttled)
                else backoff(message.attempts)
            )
            await unit.outbox.retry_later(message.id, str(error), now, delay=delay, give_up=give_up)
        quiet = isinstance(error, Unreachable) and not give_up
        log.log(
            logging.DEBUG if quiet else logging.WARNING,
            "follow-up %s not sent (%s)%s",
            message.id,
            error,
            "; giving up" if give_up else "",
        )
        return 0

    async def run_forever(self, interval: float = 5.0) -> None:
        while not self._stopping.is_set():
            try:
                await self.run_once()
            except StoreUnavailable as error:
                log.warning("outbox paused: %s", error)
            await wait_or_stop(self._stopping, interval)
