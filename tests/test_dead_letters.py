"""A message whose handling raises is kept with its error, the person is told, nothing
half-done is stored, and it can be handled again later."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import func, select

from bot.delivery import Delivery
from bot.metrics import Metrics
from handlers.dead_letters import inbound_from_json, list_failed, retry_failed
from handlers.engine import Engine
from handlers.enrich import Enricher, Enrichment
from storage.models import Contribution
from tests.people import Person


class BrokenEnricher(Enricher):
    """Fails on the word 'explode', as a bug in a real analyser might."""

    def enrich_many(self, texts: Sequence[str], *, social: bool = False) -> list[Enrichment]:
        if any("explode" in text for text in texts):  # (enrich is enrich_many of one)
            raise RuntimeError("analyser crashed")
        return super().enrich_many(texts, social=social)


async def test_failed_messages_are_kept_and_retried(engine: Engine, enricher: Enricher) -> None:
    person = Person(engine, "rae")
    await person.join()
    broken = Engine(
        engine.store,
        engine.config,
        enricher=BrokenEnricher(enricher.languages, engine.config.sentiment),
        pseudonyms=engine.pseudonyms,
        contacts=engine.contacts,
        clock=engine.clock,
        rng=engine.rng,
    )
    await broken.prepare()
    metrics = Metrics()
    delivery = Delivery(broken, metrics)
    from handlers.types import Inbound

    inbound = Inbound(
        channel="console",
        sender="rae",
        message_id="boom-1",
        received_at=engine.clock(),
        text="idea Physio to explode waiting lists",
        raw='{"provider": "payload"}',
    )
    outcome = await delivery.handle(inbound)
    assert [reply.key for reply in outcome.replies] == ["failed_kept"]
    assert metrics.messages[("console", "failed")] == 1
    async with engine.store.reader() as unit:
        assert await unit.session.scalar(select(func.count()).select_from(Contribution)) == 0
    kept = await list_failed(engine)
    assert len(kept) == 1 and "analyser crashed" in kept[0].error and kept[0].message_id == "boom-1"
    # Who sent it, their words and the provider's payload are kept only encrypted.
    for personal in ("rae", "explode", "provider"):
        assert personal not in kept[0].raw
    opened = inbound_from_json(kept[0].raw, engine.contacts)
    assert (opened.sender, opened.text, opened.raw) == (inbound.sender, inbound.text, inbound.raw)

    # Retrying with the same fault keeps it, with the attempt counted.
    with pytest.raises(RuntimeError):
        await retry_failed(broken, kept[0].id)
    assert (await list_failed(engine))[0].attempts == 2

    # Once fixed, the retry applies the message once and marks it done.
    retried = await retry_failed(engine, kept[0].id)
    assert retried is not None and retried[1].replies[0].key == "idea_saved"
    assert await list_failed(engine) == []
    async with engine.store.reader() as unit:
        texts = list(await unit.session.scalars(select(Contribution.text)))
    assert texts == ["Physio to explode waiting lists"]
    assert await retry_failed(engine, 9999) is None
