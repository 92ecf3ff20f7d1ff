"""Enrichment in a worker process, for the long-running server.

The language detector's models load inside one native call that holds the interpreter's
lock for seconds; in the server's own process that would freeze the event loop (no
/healthz, no webhooks) while they load. In a worker process they load without touching
the server's loop, and every text is enriched there afterwards; the server waits on the
answer in a thread, not on the lock. `EnrichmentProcess` has the Enricher's interface.
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from handlers.enrich import Enricher, Enrichment
from handlers.settings import SentimentSettings

_worker: Enricher | None = None


def _start(languages: tuple[str, ...], sentiment: SentimentSettings) -> None:
    global _worker
    _worker = Enricher(languages, sentiment)


def _warm_up() -> None:
    assert _worker is not None
    _worker.warm_up()


def _enrich(text: str, social: bool) -> Enrichment:
    assert _worker is not None
    return _worker.enrich(text, social=social)


def enrich_each(enricher: Enricher, texts: Sequence[str]) -> list[Enrichment | Exception]:
    """Each text's enrichment, or the error it raised (the others carry on): all at
    once, stage by stage, and only when one of them raises, one at a time."""
    try:
        return list(enricher.enrich_many(texts))
    except Exception:
        pass  # some text's own error: find which, while enriching the others
    results: list[Enrichment | Exception] = []
    for text in texts:
        try:
            results.append(enricher.enrich(text))
        except Exception as error:
            results.append(error)
    return results


def _enrich_many(texts: Sequence[str]) -> list[Enrichment | Exception]:
    assert _worker is not None
    # An error goes back pickled: one that cannot be is sent as its repr.
    return [
        result
        if not isinstance(result, Exception) or _picklable(result)
        else RuntimeError(repr(result))
        for result in enrich_each(_worker, texts)
    ]


def _picklable(error: Exception) -> bool:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return False
    return True


class EnrichmentProcess:
    def __init__(self, languages: Sequence[str], sentiment: SentimentSettings) -> None:
        self._local = Enricher(languages, sentiment)  # its settings; models stay unloaded
        self._pool = ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(tuple(languages), sentiment),
        )

    @property
    def languages(self) -> tuple[str, ...]:
        return self._local.languages

    def warm_up(self) -> None:
        self._pool.submit(_warm_up).result()

    def enrich(self, text: str, *, social: bool = False) -> Enrichment:
        return self._pool.submit(_enrich, text, social).result()

    def enrich_many(self, texts: Sequence[str]) -> list[Enrichment | Exception]:
        """Each text's enrichment or the error it raised, in one round trip."""
        return self._pool.submit(_enrich_many, list(texts)).result()

    def close(self) -> None:
        """Stop the worker now, even while its models are still loading: a shutdown
        (SIGTERM) must not wait seconds for them. Python 3.11's pool has no public way to
        stop a busy worker (3.14 adds terminate_workers), hence its process table."""
        processes = list((self._pool._processes or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=5)
