"""Telegram's send rate shared between workers: python-telegram-bot's AIORateLimiter at
this worker's share of Telegram's 30 messages a second.

AIORateLimiter keeps one process to the limit; two PostgreSQL workers of one bot each
kept to it on their own and sent up to 60 a second between them, which Telegram answers
with "retry after" (waited out, so nothing is lost, but every reply of the bot waits).
So each worker counts the workers sending for this bot (storage/presence.py) as it
starts and every `RECOUNT_SECONDS`, and sends at 30 a second divided by that count. A
worker that joins or dies is noticed at the next count; meanwhile the others keep their
old share. When the store cannot be reached the last count stands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from telegram import constants
from telegram.ext import AIORateLimiter, BaseRateLimiter

from storage.database import Store
from storage.errors import StoreUnavailable
from storage.presence import Presence

log = logging.getLogger(__name__)

RECOUNT_SECONDS = 5.0  # a pg_locks read: cheap; a joining worker is noticed soon
OVERALL_PER_SECOND = constants.FloodLimit.MESSAGES_PER_SECOND  # 30, for the whole bot


class SharedRateLimiter(BaseRateLimiter[int]):
    """An AIORateLimiter whose overall rate is this worker's share; a new one is put in
    place when the count of workers changes (calls already waiting finish on the old)."""

    def __init__(
        self,
        presence: Callable[[], Presence],
        max_retries: int = 0,
        recount_seconds: float = RECOUNT_SECONDS,
    ) -> None:
        self._presence_factory = presence
        self._presence: Presence | None = None
        self._max_retries = max_retries
        self.recount_seconds = recount_seconds
        self.workers = 1
        self._limiter = self._limiter_for(1)
        self._recounting: asyncio.Task[None] | None = None

    def _limiter_for(self, workers: int) -> AIORateLimiter:
        return AIORateLimiter(
            overall_max_rate=OVERALL_PER_SECOND / workers, max_retries=self._max_retries
        )

    @property
    def per_second(self) -> float:
        """This worker's share of the bot's sends a second."""
        return OVERALL_PER_SECOND / self.workers

    async def initialize(self) -> None:
        if self._recounting is not None:  # initialised again after a failed start
            return
        self._presence = self._presence_factory()
        self._recounting = asyncio.create_task(self._recount_forever(), name="telegram-share")

    async def shutdown(self) -> None:
        if self._recounting is not None:
            self._recounting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recounting
            self._recounting = None
        if self._presence is not None:
            with contextlib.suppress(Exception):
                await self._presence.leave()
            self._presence = None

    async def recount(self) -> None:
        """Join the workers sending for this bot if not yet joined, count them, and take
        this worker's share; the store out of reach leaves the share as it was."""
        if self._presence is None:
            return
        try:
            await self._presence.join()
            workers = await self._presence.count()
        except StoreUnavailable as error:
            log.debug("Telegram's send rate: workers not counted (%s); share kept", error)
            return
        if workers != self.workers:
            self.workers = workers
            self._limiter = self._limiter_for(workers)
            if workers > 1:
                log.info(
                    "Telegram sends: %d workers share the bot's %d a second, %.1f a second each",
                    workers, OVERALL_PER_SECOND, self.per_second,
                )  # fmt: skip
            else:
                log.info("Telegram sends: this worker alone, %d a second", OVERALL_PER_SECOND)

    async def _recount_forever(self) -> None:
        while True:
            await self.recount()
            await asyncio.sleep(self.recount_seconds)

    async def process_request(
        self,
        callback: Any,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        return await self._limiter.process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )


def shared_by_workers(store: Store, max_retries: int) -> SharedRateLimiter:
    """The rate limiter of a bot whose workers all send through this store's count."""
    return SharedRateLimiter(partial(Presence, store, "telegram-sends"), max_retries)
