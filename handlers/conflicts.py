"""Transactions that lost a race are tried again: another worker wrote the same new row
first (a participant or post created at the same moment), or the database broke a
deadlock between voters by cancelling one of them. Nothing of a lost attempt was
committed, so running the whole transaction again is safe; the next try sees the rows
the winner committed."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from storage.errors import StoreConflict

log = logging.getLogger(__name__)

T = TypeVar("T")
ATTEMPTS = 4
PAUSE_SECONDS = 0.02  # times the attempt number, with jitter, so racers fall apart


async def retrying_conflicts(
    run: Callable[[], Awaitable[T]], *, what: str, rng: random.Random
) -> T:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await run()
        except StoreConflict as conflict:
            if attempt == ATTEMPTS:
                raise
            # The conflict's text can quote the statement's values (people's words).
            log.info("retrying %s after a conflict (%s)", what, conflict.kind)
            await asyncio.sleep(PAUSE_SECONDS * attempt * rng.uniform(0.5, 1.5))
    raise AssertionError("unreachable")
