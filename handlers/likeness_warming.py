"""Building the open questions' alike indexes after the server listens.

At 100,000 ideas a question's `LikenessIndex` takes 10 to 40 seconds to fit; built at
the first look-up it would hold the batch writer, and every message behind it, that
long after each restart. `start_alike_warming` marks the open questions as warming
(synchronously, so no look-up can start a build of its own first), then one task reads
each question's ideas and has them fitted in a child process
(handlers/likeness_process.py), sends it the ideas stored meanwhile, and installs the
index in the cache (handlers/likeness_cache.py). /healthz lists "alike index: KEY"
under "warming" until then; new ideas meanwhile are stored without the offer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from handlers.likeness import LikenessIndex
from handlers.likeness_cache import BUILD_AT_ONCE, PAGE, LikenessCache
from handlers.likeness_process import ChildProcessBuild, Ideas, in_daemon_thread
from handlers.warming import Warming
from storage.batch_reads import ideas_page
from storage.database import Store

log = logging.getLogger(__name__)

# Ideas stored during a build are sent to the builder until fewer than this remain; the
# writer's next look-up adds the rest (a small `add` each).
CATCH_UP = 200


class IndexBuild(Protocol):
    """Where an index is fitted (a child process; a test's own)."""

    async def build(self, ideas: Ideas, threshold: float) -> None: ...

    async def add(self, ideas: Ideas) -> None: ...

    async def take(self) -> LikenessIndex: ...

    def close(self) -> None: ...


def part_name(question_key: str) -> str:
    return f"alike index: {question_key}"


def start_alike_warming(
    store: Store,
    cache: LikenessCache,
    questions: Mapping[str, int],
    warming: Warming,
    *,
    builder: Callable[[], IndexBuild] = ChildProcessBuild,
) -> asyncio.Task:
    """Mark the questions (key -> id) as warming now, and build their indexes in a task."""
    marked = set(cache.begin_warming(questions.values()))
    keys = {key: question_id for key, question_id in questions.items() if question_id in marked}
    for key in keys:
        warming.begin(part_name(key))
    return asyncio.create_task(_warm(store, cache, keys, warming, builder), name="alike-warming")


async def _warm(
    store: Store,
    cache: LikenessCache,
    questions: Mapping[str, int],
    warming: Warming,
    builder: Callable[[], IndexBuild],
) -> None:
    builds = _Builds(builder)
    try:
        for key, question_id in questions.items():
            started = time.perf_counter()
            try:
                size = await _build(store, cache, question_id, builds)
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
        builds.close()
        for key, question_id in questions.items():
            cache.abandon(question_id)
            warming.finish(part_name(key))


class _Builds:
    """The builder, started at the first question too large to fit here at once."""

    def __init__(self, builder: Callable[[], IndexBuild]) -> None:
        self._builder = builder
        self._build: IndexBuild | None = None

    def get(self) -> IndexBuild:
        if self._build is None:
            self._build = self._builder()
        return self._build

    def close(self) -> None:
        if self._build is not None:
            self._build.close()


async def _build(store: Store, cache: LikenessCache, question_id: int, builds: _Builds) -> int:
    ideas = await _ideas_after(store, question_id, 0)
    if len(ideas) <= BUILD_AT_ONCE:  # a fraction of a second: no process for it
        small = await in_daemon_thread(lambda: LikenessIndex(ideas, cache.threshold))
        cache.install(question_id, small, ideas[-1][0] if ideas else 0)
        return len(small)
    build = builds.get()
    await build.build(ideas, cache.threshold)
    last = ideas[-1][0] if ideas else 0
    while len(newer := await _ideas_after(store, question_id, last)) >= CATCH_UP:
        await build.add(newer)
        last = newer[-1][0]
    index = await build.take()
    cache.install(question_id, index, last)
    return len(index)


async def _ideas_after(store: Store, question_id: int, after_id: int) -> Ideas:
    """(id, text) of the question's ideas above `after_id`, read the way the writer does.
    Stopping the server lets a read under way finish (a read cut off mid-statement leaves
    its connection unreturned and never closed)."""
    read = asyncio.ensure_future(_read_ideas(store, question_id, after_id))
    try:
        return await asyncio.shield(read)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await read
        raise


async def _read_ideas(store: Store, question_id: int, after_id: int) -> Ideas:
    ideas: Ideas = []
    async with store.reader() as unit:
        connection = await unit.session.connection()
        while page := await connection.run_sync(ideas_page, question_id, after_id, PAGE):
            ideas += page
            after_id = page[-1][0]
    return ideas
