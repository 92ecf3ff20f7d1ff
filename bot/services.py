"""The dependencies every part of the runtime is handed explicitly (no global app):
settings, the store, the handlers' dependencies (handlers.deps.Deps), the engine that
queues messages for the writer, metrics and delivery. The language and sentiment models
warm in the background (`start_warming`), and so do the open questions' alike indexes;
/healthz lists what is still warming."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.config import Settings
from bot.delivery import Delivery
from bot.metrics import Metrics
from bot.secret import resolve_secret
from handlers.deps import Deps
from handlers.engine import Engine
from handlers.enrich import Enricher
from handlers.enrichment_process import EnrichmentProcess
from handlers.likeness_warming import start_alike_warming
from handlers.privacy import ContactCipher, Pseudonymizer
from handlers.warming import Warming
from storage.database import Store, is_sqlite

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: Store
    engine: Engine
    contacts: ContactCipher
    metrics: Metrics
    delivery: Delivery
    warming: Warming = field(default_factory=Warming.ready)
    warm_alike: bool = False  # build the open questions' alike indexes ahead
    owns_enricher: bool = True  # False: handed in by the caller, who closes it
    _warming_task: asyncio.Task | None = None
    alike_warming: asyncio.Task | None = None  # done once the alike indexes are built

    @property
    def deps(self) -> Deps:
        return self.engine.deps

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.engine.deps.clock

    def start_warming(self) -> None:
        """Load the models in a thread, once; messages that need them wait meanwhile.
        Then the open questions' alike indexes, which no message waits for."""
        if self._warming_task is None and self.warming.parts:
            self._warming_task = asyncio.create_task(
                self.warming.run(self.engine.deps.enricher.warm_up), name="warming"
            )
        config = self.engine.deps.config
        if self.warm_alike and self.alike_warming is None and config.consultation.offer_alike:
            ids = self.engine.deps.question_ids
            open_now = {
                q.key: ids[q.key] for q in config.open_questions(self.clock()) if q.key in ids
            }
            self.alike_warming = start_alike_warming(
                self.store, self.engine.likeness, open_now, self.warming
            )

    async def close(self) -> None:
        await self.delivery.close()
        await self.engine.close()
        if self.alike_warming is not None:
            self.alike_warming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.alike_warming
        if self._warming_task is not None:  # stopping never waits for the models
            self._warming_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warming_task
        enricher = self.engine.deps.enricher
        if self.owns_enricher and isinstance(enricher, EnrichmentProcess):
            await asyncio.to_thread(enricher.close)
        await self.store.close()


async def open_services(
    settings: Settings,
    *,
    channel_media: Mapping[str, str],
    store: Store | None = None,
    warm_up: bool = True,
    warm_later: bool = False,
    enricher: Enricher | EnrichmentProcess | None = None,
) -> Services:
    """Open the store (upgrading an embedded SQLite store in place) and build the engine.
    The models start loading in the background at once; with `warm_later` (the server)
    texts are enriched in a worker process, whose models load after
    `Services.start_warming()` (called once the server listens). `warm_up=False`
    skips loading them ahead (for commands that only report: they load at first use).
    `channel_media` is each declared channel's medium by name (`bot.channels.media()`;
    passed in, as the channels' declarations are built on these services). `enricher`:
    one already built for the same languages and sentiment settings, used instead of a
    new one and left open when the services close (the test suite shares one worker
    process among the many servers it starts, instead of each loading the models).

    PostgreSQL is shared by several workers, so its schema is only changed by an explicit
    `chorus db upgrade`; an outdated schema stops start-up with that advice.
    """
    secret = resolve_secret(settings.env)
    timeouts = settings.file.store.timeouts()
    store = store or Store.connect(settings.env.database_url, timeouts=timeouts)
    used = enricher
    try:
        if is_sqlite(store.url):
            await store.upgrade()
        await store.check_schema()
        config = settings.consultation
        contacts = ContactCipher(secret)
        if used is None and warm_later:  # the server: texts are enriched in a worker process
            used = EnrichmentProcess(config.consultation.languages, config.sentiment)
        elif used is None:
            used = Enricher(config.consultation.languages, config.sentiment)
        warming = Warming() if warm_up else Warming.ready()
        engine = Engine(
            store,
            config,
            enricher=used,
            pseudonyms=Pseudonymizer(secret),
            contacts=contacts,
            warming=warming,
            channel_media=channel_media,
        )
        await engine.prepare()
    except BaseException:
        if isinstance(used, EnrichmentProcess) and enricher is None:
            used.close()
        await store.close()
        raise
    metrics = Metrics()

    def batch_taken(size: int) -> None:
        metrics.batch_applied(size)
        metrics.queue_depth(engine.queue_depth)  # what is left waiting behind it

    engine.on_batch.append(batch_taken)
    services = Services(
        settings=settings,
        store=store,
        engine=engine,
        contacts=contacts,
        metrics=metrics,
        delivery=Delivery(engine, metrics, budget_seconds=timeouts.webhook_seconds),
        warming=warming,
        warm_alike=warm_up,
        owns_enricher=enricher is None,
    )
    if not warm_later:
        services.start_warming()
    return services
