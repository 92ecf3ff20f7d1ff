"""How a chat channel (Telegram, WhatsApp) sends replies after the commit.

Each batch of replies is a task, so the webhook answers without waiting for the provider;
replies to one person keep their order (one lock per address); `drained` waits for every
task so far, and stopping waits for them too. While the provider is down a send waits for
it to answer again. If Chorus is stopped meanwhile, what was still waiting (or was cut
off mid-call when the stop ran out of time, bot/runtime.py) is put in the outbox
(bot/outbox.py) as one plain message, which goes out after the restart once the
provider answers: buttons become numbered lines, and typing a number picks a choice on
every channel (handlers/router.py). A person the provider says cannot be reached (they
blocked the bot) is marked unreachable.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Coroutine, Hashable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from storage.errors import StoreUnavailable

if TYPE_CHECKING:  # for the annotation only: the render modules import `numbered` from here
    from bot.services import Services

log = logging.getLogger(__name__)


def numbered(text: str, labels: Sequence[str]) -> str:
    """`text` followed by the choices as numbered lines ("1. Agree")."""
    if not labels:
        return text
    lines = "\n".join(f"{number}. {label}" for number, label in enumerate(labels, 1))
    return f"{text}\n\n{lines}"


class ChatSends:
    """The sends under way for one channel (`name`, as the engine knows it)."""

    def __init__(self, services: Services, name: str) -> None:
        self.services = services
        self.name = name
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: weakref.WeakValueDictionary[Hashable, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def lock(self, address: Hashable) -> asyncio.Lock:
        """Held while sending to `address`, so its replies keep their order."""
        lock = self._locks.get(address)
        if lock is None:
            lock = self._locks[address] = asyncio.Lock()
        return lock

    def later(self, sending: Coroutine[Any, Any, None], *, name: str) -> None:
        task = asyncio.create_task(sending, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drained(self) -> None:
        """Wait until every send started so far has finished (or given up)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def keep_unsent(self, address: str, texts: Iterable[str | None]) -> bool:
        """Keep the texts of replies to `address` left unsent at stopping as one outbox
        message; True when kept. Each outcome is logged: kept, not kept because the person
        has not agreed to take part (or opted out), or not kept because the store is down."""
        kept = [text for text in texts if text and text.strip()]
        if not kept:
            return False
        try:
            text = "\n\n".join(kept)
            if await self.services.engine.keep_for_later(self.name, address, text):
                log.info(
                    "%d %s replies not sent before stopping; kept to send later",
                    len(kept),
                    self.name,
                )
                return True
        except StoreUnavailable as error:
            log.warning(
                "%d %s replies were not sent and could not be kept: %s", len(kept), self.name, error
            )
            return False
        # Nothing is stored about someone who has not agreed to take part; they write again.
        log.info(
            "%d %s replies not sent before stopping, to someone not taking part: not kept",
            len(kept),
            self.name,
        )
        return False

    async def mark_unreachable(self, address: str) -> None:
        try:
            if await self.services.engine.set_reachable(self.name, address, False):
                log.info("a %s participant cannot be reached; marked unreachable", self.name)
        except StoreUnavailable as error:
            log.warning("could not mark a %s participant unreachable: %s", self.name, error)
