"""Texts waiting for enrichment, sent to the enricher together.

Under `chorus run` the enricher is another process (handlers/enrichment_process.py), and
each call to it crosses two threads of this process and the pipe both ways. When many
ideas arrive at once (a journey's idea step reached by a crowd together), one call per
text made that crossing the bottleneck: `bench/load.py --rate 500` showed the idea step
alone taking seconds while the enrichment itself needs a fraction of a millisecond a
text. So the texts that wait meanwhile go in one call: one batch at a time is in the
enricher, the next gathers while it runs. A text whose enrichment raises fails alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from handlers.enrich import Enricher, Enrichment
from handlers.enrichment_process import EnrichmentProcess, enrich_each

BATCH_LIMIT = 64  # texts in one call


def _enrich_all(
    enricher: Enricher | EnrichmentProcess, texts: Sequence[str]
) -> list[Enrichment | Exception]:
    if isinstance(enricher, EnrichmentProcess):
        return enricher.enrich_many(texts)  # one round trip to the worker
    return enrich_each(enricher, texts)


class EnrichmentBatches:
    """`enrich(text)` for many callers at once; `enricher()` is the current enricher
    (the engine's dependencies may be swapped)."""

    def __init__(self, enricher: Callable[[], Enricher | EnrichmentProcess]) -> None:
        self._enricher = enricher
        self._waiting: list[tuple[str, asyncio.Future[Enrichment]]] = []
        self._sender: asyncio.Task[None] | None = None
        self.calls = 0  # calls made to the enricher (each with one batch)

    async def enrich(self, text: str) -> Enrichment:
        future: asyncio.Future[Enrichment] = asyncio.get_running_loop().create_future()
        self._waiting.append((text, future))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send(), name="chorus-enrichment")
        return await future

    async def _send(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            batch = self._waiting[:BATCH_LIMIT]
            del self._waiting[:BATCH_LIMIT]
            texts = [text for text, _future in batch]
            self.calls += 1
            try:
                results: Sequence[Enrichment | BaseException] = await loop.run_in_executor(
                    None, _enrich_all, self._enricher(), texts
                )
            except asyncio.CancelledError:
                for _text, future in [*batch, *self._waiting]:
                    future.cancel()
                self._waiting.clear()
                raise
            except Exception as error:  # the enricher itself failed (its process died)
                results = [error] * len(batch)
            for (_text, future), result in zip(batch, results, strict=True):
                if future.done():  # its message was given up meanwhile
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
