"""Waiting and trying again, for every adapter: growing delays, and handling a polled
message again and again until the store is back.

A webhook answers 503 when the store is down and lets the provider retry; a poller has
acknowledged (or will acknowledge) what it fetched, so it must keep the message and try
again itself. `until_stored` does that, and stops waiting when the adapter is stopping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.backoff import Backoff
from storage.errors import StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


async def wait_or_stop(stopping: asyncio.Event, seconds: float) -> bool:
    """Sleep for `seconds` unless `stopping` is set first; True when stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
    return stopping.is_set()


async def until_stored(
    action: Callable[[], Awaitable[T]],
    *,
    stopping: asyncio.Event,
    backoff: Backoff,
    on_first_failure: Callable[[], Awaitable[None]] | None = None,
) -> T:
    """Run `action` until it no longer raises StoreUnavailable.

    `on_first_failure` runs once, at the first failure (a poller can stop fetching more
    messages while the store is down). If `stopping` is set while waiting, the last
    StoreUnavailable is raised so the caller can say what was not applied.
    """
    delays = backoff.delays()
    failed_before = False
    while True:
        try:
            return await action()
        except StoreUnavailable as error:
            if not failed_before and on_first_failure is not None:
                await on_first_failure()
            failed_before = True
            delay = next(delays)
            log.warning("store unavailable (%s); trying again in %.1f s", error, delay)
            if stopping.is_set() or await wait_or_stop(stopping, delay):
                raise
