"""Waiting and trying again, for every adapter, on tenacity: one backoff policy, a call
retried a few times on transient errors, and a polled message handled again and again
until the store is back.

`Backoff` is a tenacity wait strategy (exponential with "equal jitter"), so every channel
backs off the same way; the numbers are the caller's, so tests can use milliseconds. An
adapter that keeps its own reconnect loop (the X stream, Telegram coming up) takes waits
from it with `next()`/`reset()` or `delays()`.

A webhook answers 503 when the store is down and lets the provider retry; a poller has
acknowledged (or will acknowledge) what it fetched, so it must keep the message and try
again itself. `until_stored` does that, and stops waiting when the adapter is stopping.
`patiently` is the same wait for any error (a reply waiting out a provider's outage).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
)
from tenacity.wait import wait_base

from storage.errors import StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


class Backoff(wait_base):
    """Exponential backoff with "equal jitter": the n-th wait is drawn between half and
    all of min(maximum, initial * factor**n), so waits grow but many clients that lost
    the same server do not all come back at the same instant."""

    def __init__(
        self,
        initial: float,
        maximum: float,
        *,
        factor: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or maximum < initial or factor < 1:
            raise ValueError("backoff needs 0 < initial <= maximum and factor >= 1")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.attempts = 0
        self._rng = rng or random.Random()

    def ceiling_after(self, failures: int) -> float:
        """The largest wait after `failures` failed attempts (the first wait: 1)."""
        return min(self.maximum, self.initial * self.factor ** max(failures - 1, 0))

    def wait_after(self, failures: int) -> float:
        ceiling = self.ceiling_after(failures)
        return self._rng.uniform(ceiling / 2, ceiling)

    def __call__(self, retry_state: RetryCallState) -> float:
        """tenacity's wait: after the n-th failed attempt."""
        return self.wait_after(retry_state.attempt_number)

    # For adapters that keep their own loop, resetting it after a connection that held.

    def ceiling(self) -> float:
        """The largest wait the next attempt can get."""
        return self.ceiling_after(self.attempts + 1)

    def next(self) -> float:
        self.attempts += 1
        return self.wait_after(self.attempts)

    def reset(self) -> None:
        self.attempts = 0

    def delays(self) -> Iterator[float]:
        """Endless waits from a first attempt, leaving this object's own count alone, so one
        Backoff can serve as the policy for many independent retries."""
        failures = 0
        while True:
            failures += 1
            yield self.wait_after(failures)


async def wait_or_stop(stopping: asyncio.Event, seconds: float) -> bool:
    """Sleep for `seconds` unless `stopping` is set first; True when stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
    return stopping.is_set()


async def retried(
    action: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    backoff: Backoff,
    when: Callable[[BaseException], bool],
    what: str,
    describe: Callable[[BaseException], str] = str,
) -> T:
    """Run `action` up to `attempts` times while it raises an error `when` accepts, waiting
    `backoff` between tries; the last error is raised as it was. `what` and `describe`
    (e.g. a scrubber of secrets) make the DEBUG line: a provider's outage is reported
    once, by the caller's `Outage` (bot/outages.py)."""

    def say(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        delay = state.upcoming_sleep
        described = describe(error) if error is not None else "no error"
        log.debug("%s failed (%s); retrying in %.1f s", what, described, delay)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=backoff,
        retry=retry_if_exception(when),
        before_sleep=say,
        reraise=True,
    )
    return await retrying(_awaiting(action))


def _awaiting(action: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
    """`action` as a coroutine function: tenacity awaits only what it sees is one, and a
    lambda returning a coroutine is not."""

    async def attempt() -> T:
        return await action()

    return attempt


class _Stopped(Exception):
    """Raised from the wait when the adapter stops while the store is down."""


async def patiently(
    action: Callable[[], Awaitable[T]],
    *,
    when: Callable[[BaseException], bool],
    stopping: asyncio.Event,
    backoff: Backoff,
    on_failure: Callable[[BaseException, int, float], Awaitable[None] | None] | None = None,
) -> T:
    """Run `action` until it no longer raises an error `when` accepts, waiting `backoff`
    between tries. `on_failure(error, attempt, delay)` hears of each failure before the
    wait. If `stopping` is set while waiting, the last such error is raised."""
    last: list[BaseException] = []

    async def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        assert error is not None
        last[:] = [error]
        if on_failure is not None:
            heard = on_failure(error, state.attempt_number, state.upcoming_sleep)
            if heard is not None:
                await heard

    async def sleep(seconds: float) -> None:
        if stopping.is_set() or await wait_or_stop(stopping, seconds):
            raise _Stopped

    retrying = AsyncRetrying(
        wait=backoff,
        retry=retry_if_exception(when),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
    try:
        return await retrying(_awaiting(action))
    except _Stopped:
        raise last[0] from None


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

    async def heard(error: BaseException, attempt: int, delay: float) -> None:
        if attempt == 1 and on_first_failure is not None:
            await on_first_failure()
        log.warning("store unavailable (%s); trying again in %.1f s", error, delay)

    return await patiently(
        action,
        when=lambda error: isinstance(error, StoreUnavailable),
        stopping=stopping,
        backoff=backoff,
        on_failure=heard,
    )
