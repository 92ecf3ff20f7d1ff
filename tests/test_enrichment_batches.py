"""Texts that wait for enrichment together go to the enricher in one call
(handlers/enrichment_batches.py): each still gets its own enrichment, and a text whose
enrichment raises fails alone."""

from __future__ import annotations

import asyncio

from bot.config import Settings
from handlers.enrich import Enricher
from handlers.enrichment_batches import BATCH_LIMIT, EnrichmentBatches
from tests.fakes.enrichers import FailingOnWord
from tests.running_chorus import shared_enrichment


async def test_texts_arriving_together_go_in_one_call_and_a_failure_fails_alone(
    enricher: Enricher,
) -> None:
    batches = EnrichmentBatches(lambda: FailingOnWord(enricher, "explode"))  # type: ignore[arg-type, return-value]
    texts = [f"Idea {n}: more physios in GP surgeries" for n in range(40)]
    texts[17] = "this one will explode"
    results = await asyncio.gather(
        *(batches.enrich(text) for text in texts), return_exceptions=True
    )
    assert batches.calls == 1
    assert isinstance(results[17], RuntimeError)
    assert str(results[17]) == "enrichment crashed on this text"
    for number, (text, result) in enumerate(zip(texts, results, strict=True)):
        if number != 17:
            assert result == enricher.enrich(text)


async def test_a_burst_larger_than_a_batch_goes_in_several_calls(enricher: Enricher) -> None:
    batches = EnrichmentBatches(lambda: enricher)
    texts = [f"Idea {n}" for n in range(BATCH_LIMIT * 2 + 5)]
    results = await asyncio.gather(*(batches.enrich(text) for text in texts))
    assert results == [enricher.enrich(text) for text in texts]
    assert batches.calls == 3


async def test_one_text_alone_is_not_held_back(enricher: Enricher) -> None:
    batches = EnrichmentBatches(lambda: enricher)
    first = await asyncio.wait_for(batches.enrich("Longer appointments please"), 10)
    second = await asyncio.wait_for(batches.enrich("Fine."), 10)
    assert (first, second) == (
        enricher.enrich("Longer appointments please"),
        enricher.enrich("Fine."),
    )
    assert batches.calls == 2


async def test_the_worker_process_answers_each_text_of_a_batch(
    settings: Settings, enricher: Enricher
) -> None:
    worker = shared_enrichment(settings)
    texts = ["Longer appointments please", "Mwy o ffisiotherapyddion", "", "Fine."]
    loop = asyncio.get_running_loop()
    results = await loop.run_in_executor(None, worker.enrich_many, texts)
    assert results == [enricher.enrich(text) for text in texts]
