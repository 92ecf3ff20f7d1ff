"""A lasting copy of the replies a chat channel is still trying to send while its provider
is down, so that neither an orderly stop nor a crash loses them.

Telegram and WhatsApp replies are sent after the commit; while the provider is down, a
send waits for it to answer again (bot/channels/chat_sends.py). At the first failed try,
the replies still to send are copied into the outbox as one plain message: buttons become
numbered lines, after a line saying it comes late (`Engine.keep_for_later`). The copy is
due only HOLD later. The running Chorus keeps trying itself, moves the copy's time on
while it still waits, and removes the copy once the replies are sent. If the process dies
meanwhile (kill -9, a power cut), nothing moves the copy on: HOLD after the last move the
outbox (bot/outbox.py) of the restarted Chorus sends it, once the provider answers, or
drops it if the person has written again since (their newer message was answered). When
Chorus stops in an orderly way, the copy is made due at once, with what is still unsent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from storage.errors import StoreUnavailable

if TYPE_CHECKING:  # for the annotation only
    from bot.services import Services

log = logging.getLogger(__name__)

# How long a copy waits for the process that kept it. Its time is moved on once half of
# this has passed, and the sends between two tries wait at most a minute.
HOLD = timedelta(minutes=5)


def _joined(texts: Iterable[str | None]) -> tuple[str, int]:
    kept = [text for text in texts if text and text.strip()]
    return "\n\n".join(kept), len(kept)


class UnsentReplies:
    """The copy kept for one send to one address (`channel`, as the engine knows it);
    `texts()` says what the send has still to send, as plain texts (None: nothing to say)."""

    def __init__(
        self,
        services: Services,
        channel: str,
        address: str,
        texts: Callable[[], Iterable[str | None]],
    ) -> None:
        self.services = services
        self.channel = channel
        self.address = address
        self.texts = texts
        self.kept: int | None = None  # the outbox message holding the copy
        self._due: datetime | None = None  # when the copy would go out without us
        self._store_down = False

    async def before_waiting_for(self, lock: asyncio.Lock, *, provider_down: bool) -> None:
        """About to wait for `lock` (the person's), held by a send that waits out the
        provider's outage: keep the copy now, as this send may wait as long, and its own
        first try comes only after."""
        if provider_down and lock.locked():
            await self.waiting()

    async def waiting(self) -> None:
        """A try failed, the provider is down: keep a copy of what is still to send, due
        HOLD from now (or move the copy's time on, once half of HOLD has passed)."""
        engine = self.services.engine
        now = engine.clock()
        if self._due is not None and self._due - now > HOLD / 2:
            return
        text, count = _joined(self.texts())
        if not count:
            return
        try:
            kept = await engine.keep_for_later(
                self.channel, self.address, text, due=now + HOLD, replacing=self.kept
            )
        except StoreUnavailable as error:  # said once a send: tries come every few seconds
            say = log.debug if self._store_down else log.warning
            say("%s replies wait for the provider; no copy kept: %s", self.channel, error)
            self._store_down = True
            return
        if kept is not None and self.kept is None:
            log.info(
                "%d %s replies wait for the provider; a copy is kept in the outbox meanwhile",
                count,
                self.channel,
            )
        self.kept, self._due = kept, now + HOLD  # (a stranger: asked again after HOLD / 2)

    async def settle(self, *, stopping: bool) -> None:
        """The send ended: sent in full, the copy is removed; with something left unsent
        and stopping (or a copy kept already), that is kept to be sent at once. Each outcome
        is logged: kept, not kept because the person has not agreed to take part (or
        opted out), or not kept because the store is down."""
        text, count = _joined(self.texts())
        engine = self.services.engine
        try:
            if not count:
                if self.kept is not None:
                    await engine.drop_kept(self.kept)
                return
            if not stopping and self.kept is None:
                return
            kept = await engine.keep_for_later(
                self.channel, self.address, text, replacing=self.kept
            )
        except StoreUnavailable as error:
            if count:
                log.warning(
                    "%d %s replies were not sent and could not be kept: %s",
                    count,
                    self.channel,
                    error,
                )
            else:  # its copy will go out too, HOLD later
                log.warning("%s replies were sent; their copy stays: %s", self.channel, error)
            return
        finally:
            self.kept = self._due = None
        why = "before stopping" if stopping else "after an error"
        if kept is not None:
            log.info("%d %s replies not sent %s; kept to send later", count, self.channel, why)
        else:  # nothing is stored about someone who has not agreed to take part
            log.info(
                "%d %s replies not sent %s, to someone not taking part: not kept",
                count,
                self.channel,
                why,
            )
