"""A question's alike index built in a child process of its own.

Fitting the index is Python code for the most part (sklearn's n-gram analyser), so in a
thread of the server it would hold the interpreter's lock for tens of seconds at
100,000 ideas, and every message meanwhile would wait for it between its steps (ideas
took half a second to a second each instead of milliseconds). In a child process it
does not touch the server's lock; the server waits on the pipe in a thread. The child
keeps the index while the server sends it the ideas stored since (`add`), then hands it
over (`take`). `close` kills the child, so stopping the server never waits for a fit.
The child runs at a lower priority (nice 10): on a machine with few cores, a fit
competes with the server for them, and messages should win.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import os
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from handlers.likeness import LikenessIndex

T = TypeVar("T")
Ideas = list[tuple[int, str]]


def _serve(connection: Connection) -> None:
    """The child: answers ("build", ideas, threshold), ("add", ideas) and ("take",)
    with (True, result) or (False, what went wrong), until the pipe closes. At a lower
    priority: where cores are few, the server's messages come first."""
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no os.nice
        os.nice(10)
    index: LikenessIndex | None = None
    while True:
        try:
            verb, *args = connection.recv()
        except EOFError:
            return
        try:
            if verb == "build":
                index = LikenessIndex(args[0], args[1])
                result: Any = len(index)
            elif verb == "add":
                assert index is not None, "add before build"
                for idea_id, text in args[0]:
                    index.add(idea_id, text)
                result = len(index)
            else:
                result, index = index, None
        except Exception as error:  # told to the server, which builds at first use instead
            connection.send((False, f"{type(error).__name__}: {error}"))
        else:
            connection.send((True, result))


class ChildProcessBuild:
    """One child process building one index at a time (`build`, `add`..., `take`)."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child,), name="chorus-alike-index", daemon=True
        )
        self._process.start()
        child.close()

    async def build(self, ideas: Ideas, threshold: float) -> None:
        await self._ask("build", ideas, threshold)

    async def add(self, ideas: Ideas) -> None:
        await self._ask("add", ideas)

    async def take(self) -> LikenessIndex:
        return await self._ask("take")

    def close(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join(timeout=5)
        self._connection.close()

    async def _ask(self, *request: object) -> Any:
        def exchange() -> tuple[bool, Any]:
            self._connection.send(request)
            return self._connection.recv()

        ok, value = await in_daemon_thread(exchange)
        if not ok:
            raise RuntimeError(f"the alike index could not be built: {value}")
        return value


async def in_daemon_thread(work: Callable[[], T]) -> T:
    """`work` in a thread of its own. Not the loop's default executor: `asyncio.run`
    waits for that one's threads at exit, and this one may wait on a child that is
    being killed."""
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

    threading.Thread(target=run, name="chorus-alike-index", daemon=True).start()
    return await result
