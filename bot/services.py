"""The dependencies every part of the runtime is handed explicitly (no global app):
settings, the store, the engine and its enricher, and the clock."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.config import Settings
from bot.delivery import Delivery
from bot.metrics import Metrics
from bot.secret import resolve_secret
from handlers.engine import Engine
from handlers.enrich import Enricher
from handlers.privacy import ContactCipher, Pseudonymizer
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

    async def close(self) -> None:
        await self.delivery.close()
        await self.store.close()


async def open_services(
    settings: Settings, *, store: Store | None = None, warm_up: bool = True
) -> Services:
    """Open the store (upgrading an embedded SQLite store in place) and build the engine.
    `warm_up=False` skips loading the language models (for commands that only report).

    PostgreSQL is shared by several workers, so its schema is only changed by an explicit
    `chorus db upgrade`; an outdated schema stops start-up with that advice.
    """
    secret = resolve_secret(settings.env)
    timeouts = settings.file.store.timeouts()
    store = store or Store.connect(settings.env.database_url, timeouts=timeouts)
    try:
        if is_sqlite(store.url):
            await store.upgrade()
        await store.check_schema()
        config = settings.consultation
        contacts = ContactCipher(secret)
        enricher = Enricher(config.consultation.languages, config.sentiment)
        if warm_up:
            # Load language models and word lists now, not during someone's first message.
            await asyncio.to_thread(enricher.warm_up)
        engine = Engine(
            store,
            config,
            enricher=enricher,
            pseudonyms=Pseudonymizer(secret),
            contacts=contacts,
        )
        await engine.prepare()
    except BaseException:
        await store.close()
        raise
    metrics = Metrics()
    return Services(
        settings=settings,
        store=store,
        engine=engine,
        contacts=contacts,
        metrics=metrics,
        delivery=Delivery(engine, metrics, budget_seconds=timeouts.webhook_seconds),
    )
