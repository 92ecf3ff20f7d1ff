"""How a chat channel (Telegram, WhatsApp) sends replies after the commit.

Each batch of replies is a task, so the webhook answers without waiting for the provider;
replies to one person keep their order (one lock per address); `drained` waits for every
task so far, and stopping waits for them too. While the provider is down a send waits for
it to answer again, with a copy of what it waits to send kept in the outbox meanwhile
(bot/channels/unsent_replies.py): if Chorus stops (or dies) first, including a send cut
off mid-call when the stop ran out of time (bot/runtime.py), the copy goes out after the
restart once the provider answers, as one plain message: buttons become numbered lines,
and typing a number picks a choice on every channel (handlers/router.py). A person the
provider says cannot be reached (they blocked the bot) is marked unreachable.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Coroutine, Hashable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from bot.channels.unsent_replies import UnsentReplies
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

    def unsent(self, address: str, texts: Callable[[], Iterable[str | None]]) -> UnsentReplies:
        """The lasting copy of one send's replies (`texts()`: what is still to send) while
        the provider is down."""
        return UnsentReplies(self.services, self.name, address, texts)

    async def mark_unreachable(self, address: str) -> None:
        try:
            if await self.services.engine.set_reachable(self.name, address, False):
                log.info("a %s participant cannot be reached; marked unreachable", self.name)
        except StoreUnavailable as error:
            log.warning("could not mark a %s participant unreachable: %s", self.name, error)
