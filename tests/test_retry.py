"""Retries on tenacity: a transient error is tried again up to the limit and then raised
as it was, any other error at once; a polled message waits for the store until it is
back, or until the adapter stops."""

from __future__ import annotations

import asyncio

import pytest

from bot.retry import Backoff, retried, until_stored
from storage.errors import StoreUnavailable

QUICK = Backoff(0.001, 0.004)


class Flaky:
    """Fails with the given errors in turn, then answers "done"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


async def test_a_transient_error_is_tried_again_up_to_the_limit() -> None:
    flaky = Flaky(ConnectionError("1"), ConnectionError("2"))
    answer = await retried(
        flaky, attempts=3, backoff=QUICK, when=lambda e: isinstance(e, ConnectionError), what="x"
    )
    assert (answer, flaky.calls) == ("done", 3)

    flaky = Flaky(*(ConnectionError(str(n)) for n in range(5)))
    with pytest.raises(ConnectionError, match="^2$"):  # the third and last attempt's error
        await retried(
            flaky,
            attempts=3,
            backoff=QUICK,
            when=lambda e: isinstance(e, ConnectionError),
            what="x",
        )
    assert flaky.calls == 3


async def test_an_error_that_is_not_transient_is_raised_at_once() -> None:
    flaky = Flaky(ValueError("bad request"))
    with pytest.raises(ValueError):
        await retried(
            flaky,
            attempts=5,
            backoff=QUICK,
            when=lambda e: isinstance(e, ConnectionError),
            what="x",
        )
    assert flaky.calls == 1


async def test_until_stored_waits_for_the_store_and_says_so_once() -> None:
    paused: list[bool] = []

    async def pause() -> None:
        paused.append(True)

    flaky = Flaky(StoreUnavailable("down"), StoreUnavailable("still down"))
    answer = await until_stored(
        flaky, stopping=asyncio.Event(), backoff=QUICK, on_first_failure=pause
    )
    assert (answer, flaky.calls, paused) == ("done", 3, [True])


async def test_until_stored_gives_up_with_the_store_error_when_stopping() -> None:
    stopping = asyncio.Event()
    flaky = Flaky(*(StoreUnavailable(f"down {n}") for n in range(100)))

    async def stop() -> None:
        stopping.set()

    with pytest.raises(StoreUnavailable, match="down 0"):
        await until_stored(flaky, stopping=stopping, backoff=Backoff(60, 60), on_first_failure=stop)
    assert flaky.calls == 1  # no wait of a minute, no second try


def test_backoff_is_a_tenacity_wait_growing_with_jitter() -> None:
    backoff = Backoff(1, 8)
    for failures, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (9, 8)]:
        assert ceiling / 2 <= backoff.wait_after(failures) <= ceiling
