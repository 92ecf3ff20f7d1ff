"""Building the open questions' alike indexes after the server listens.

At 100,000 ideas a question's `LikenessIndex` takes 10 to 40 seconds to fit; built at
the first look-up it would hold the batch writer, and every message behind it, that
long after each restart. `start_alike_warming` marks the open questions as warming
(synchronously, so no look-up can start a build of its own first), then one task reads
each question's ideas and fits its index in a daemon thread, catches up with the ideas
stored meanwhile, and installs it in the cache (handlers/likeness_cache.py). /healthz
lists "alike index: KEY" under "warming" until then; new ideas meanwhile are stored
without the offer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from sqlalchemy import Connection

from handlers.likeness import LikenessIndex
from handlers.likeness_cache import PAGE, LikenessCache
from handlers.warming import Warming
from storage.batch import Reader
from storage.database import Store

log = logging.getLogger(__name__)

T = TypeVar("T")
Build = Callable[[list[tuple[int, str]], float], LikenessIndex]

# Ideas stored during a build are added in the thread until fewer than this remain; the
# writer's next look-up adds the rest (a small `add` each).
CATCH_UP = 200


def part_name(question_key: str) -> str:
    return f"alike index: {question_key}"


def start_alike_warming(
    store: Store,
    cache: LikenessCache,
    questions: Mapping[str, int],
    warming: Warming,
    *,
    build: Build = LikenessIndex,
) -> asyncio.Task:
    """Mark the questions (key -> id) as warming now, and build their indexes in a task
    (`build(ideas, threshold)`, run in a thread)."""
    marked = set(cache.begin_warming(questions.values()))
    keys = {key: question_id for key, question_id in questions.items() if question_id in marked}
    for key in keys:
        warming.begin(part_name(key))
    return asyncio.create_task(_warm(store, cache, keys, warming, build), name="alike-warming")


async def _warm(
    store: Store,
    cache: LikenessCache,
    questions: Mapping[str, int],
    warming: Warming,
    build: Build,
) -> None:
    try:
        for key, question_id in questions.items():
            started = time.perf_counter()
            try:
                size = await _build(store, cache, question_id, build)
            except Exception:
                cache.abandon(question_id)
                log.exception("building the alike index of %s failed; built at first use", key)
            else:
                log.info(
                    "alike index of %s ready: %d ideas in %.1f s",
                    key,
                    size,
                    time.perf_counter() - started,
                )
            finally:
                warming.finish(part_name(key))
    finally:  # cancelled (shutting down): the questions left are built at first use
        for key, question_id in questions.items():
            cache.abandon(question_id)
            warming.finish(part_name(key))


async def _build(store: Store, cache: LikenessCache, question_id: int, build: Build) -> int:
    ideas = await _ideas_after(store, question_id, 0)
    index = await _in_daemon_thread(lambda: build(ideas, cache.threshold))
    last = ideas[-1][0] if ideas else 0
    while len(newer := await _ideas_after(store, question_id, last)) >= CATCH_UP:
        await _in_daemon_thread(functools.partial(_add_all, index, newer))
        last = newer[-1][0]
    cache.install(question_id, index, last)
    return len(index)


def _add_all(index: LikenessIndex, ideas: list[tuple[int, str]]) -> None:
    for idea_id, text in ideas:
        index.add(idea_id, text)


async def _ideas_after(store: Store, question_id: int, after_id: int) -> list[tuple[int, str]]:
    """(id, text) of the question's ideas above `after_id`, read the way the writer does."""
    ideas: list[tuple[int, str]] = []
    async with store.reader() as unit:
        connection = await unit.session.connection()
        while page := await connection.run_sync(_read_page, question_id, after_id):
            ideas += page
            after_id = page[-1][0]
    return ideas


def _read_page(connection: Connection, question_id: int, after_id: int) -> list[tuple[int, str]]:
    return Reader(connection).ideas_of_question(question_id, after_id, PAGE)


async def _in_daemon_thread(work: Callable[[], T]) -> T:
    """`work` in a thread of its own. Not the loop's default executor: `asyncio.run`
    waits for that one's threads at exit, and a fit cannot be interrupted, so a server
    stopped during one would wait for it."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
            loop.call_soon_threadsafe(lambda: None if result.done() else outcome())

    def run() -> None:
        try:
            value = work()
        except BaseException as error:  # handed to the awaiting task
            settle(functools.partial(result.set_exception, error))
        else:
            settle(functools.partial(result.set_result, value))

    threading.Thread(target=run, name="chorus-alike-warming", daemon=True).start()
    return await result
