"""What every adapter does with an inbound message, written once: hand it to the
engine, count it, and keep it in the dead-letter table if handling raises.

`StoreUnavailable` is passed up untouched: a webhook must answer 503 so the provider
retries, and a poller must not acknowledge the update.
"""

from __future__ import annotations

import logging
import time

from bot.metrics import Metrics
from handlers.catalogue import Catalogue
from handlers.dead_letters import keep_failed
from handlers.engine import Engine
from handlers.types import Inbound, Outcome, Reply
from storage.errors import StoreUnavailable

log = logging.getLogger(__name__)


class Delivery:
    def __init__(self, engine: Engine, metrics: Metrics) -> None:
        self.engine = engine
        self.metrics = metrics

    async def handle(self, inbound: Inbound) -> Outcome:
        started = time.perf_counter()
        outcome_name = "error"
        try:
            outcome = await self.engine.handle(inbound)
            outcome_name = "duplicate" if outcome.duplicate else "ok"
            return outcome
        except StoreUnavailable:
            outcome_name = "store_unavailable"
            raise
        except Exception as error:
            log.exception(
                "handling %s message %s failed; keeping it", inbound.channel, inbound.message_id
            )
            record = await keep_failed(self.engine, inbound, error)
            outcome_name = "failed"
            log.info("kept as failed message %s (chorus retry %s)", record.id, record.id)
            text = Catalogue().text("failed_kept")
            return Outcome((Reply(text, key="failed_kept"),))
        finally:
            self.metrics.observe(inbound.channel, outcome_name, time.perf_counter() - started)
