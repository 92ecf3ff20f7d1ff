"""Models that load in the background after the server listens.

`chorus run` answers /healthz at once; the language detector, the sentiment analyser and
the moderation word list load in a thread meanwhile. A message that needs them waits for
them (nothing is refused), and /healthz lists what is still warming. Other parts built
in the background that no message waits for (each open question's alike index,
handlers/likeness_warming.py) are listed there too while they build (`begin`, `finish`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

MODELS = ("language", "sentiment", "moderation")


class Warming:
    def __init__(self, parts: tuple[str, ...] = MODELS) -> None:
        self.parts = list(parts)
        self._done = asyncio.Event()
        self.error: BaseException | None = None
        self._building: list[str] = []  # no message waits for these
        if not self.parts:
            self._done.set()

    @classmethod
    def ready(cls) -> Warming:
        """Nothing to wait for (models load at first use, e.g. in tests and the CLI)."""
        return cls(())

    @property
    def warming(self) -> list[str]:
        return [*self.parts, *self._building]

    def begin(self, part: str) -> None:
        """`part` is being built in the background: listed as warming until `finish`."""
        self._building.append(part)

    def finish(self, part: str) -> None:
        if part in self._building:
            self._building.remove(part)

    async def wait(self) -> None:
        await self._done.wait()

    async def run(self, load: Callable[[], None]) -> None:
        """Run `load` in a thread; whatever happens, waiting messages go on (a model that
        failed to load is loaded again at first use, or its error shows there)."""
        started = time.perf_counter()
        try:
            await asyncio.to_thread(load)
            log.info("models ready in %.1f s", time.perf_counter() - started)
        except Exception as error:
            self.error = error
            log.exception("warming the models failed; they load at first use instead")
        finally:
            self.parts.clear()
            self._done.set()
