"""What every adapter does with an inbound message, written once: hand it to the
engine, count it, and keep it in the dead-letter table if handling raises.

`StoreUnavailable` is passed up untouched: a webhook must answer 503 so the provider
retries, and a poller must not acknowledge the update.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import replace

from bot.metrics import Metrics
from handlers.catalogue import Catalogue
from handlers.dead_letters import keep_failed
from handlers.engine import Engine
from handlers.types import Inbound, Outcome, Reply
from storage.errors import StoreUnavailable

log = logging.getLogger(__name__)


MAX_UNANSWERED = 10_000


class Delivery:
    def __init__(self, engine: Engine, metrics: Metrics, *, budget_seconds: float = 4.0) -> None:
        self.engine = engine
        self.metrics = metrics
        # How long a webhook waits for the store before it answers 503 (store.webhook_seconds).
        self.budget_seconds = budget_seconds
        self._abandoned: set[asyncio.Task] = set()
        # Messages answered 503 while the engine's writer still had them: the batch writer
        # may commit them afterwards, so the provider's retry finds the id applied. Its
        # kept replies are then the first answer, not a repeat (a channel that ignores a
        # duplicate's replies, like Telegram, must still send them once).
        self._unanswered: OrderedDict[tuple[str, str], None] = OrderedDict()

    async def handle(self, inbound: Inbound) -> Outcome:
        started = time.perf_counter()
        outcome_name = "error"
        try:
            outcome = await self._within_budget(inbound)
            key = (inbound.channel, inbound.message_id)
            if key in self._unanswered:
                del self._unanswered[key]
                outcome = replace(outcome, duplicate=False)
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

    async def _within_budget(self, inbound: Inbound) -> Outcome:
        """The engine's outcome, or StoreUnavailable once the budget is spent. The work is
        cancelled then, but not waited for: a driver unwinding from a silent database can
        take seconds more, and the webhook must answer now."""
        # The budget is the store's: models still loading at start-up are waited for first
        # (a message needing them waits, as it would without a budget).
        await self.engine.warming.wait()
        work = asyncio.create_task(self.engine.handle(inbound))
        try:
            return await asyncio.wait_for(asyncio.shield(work), self.budget_seconds)
        except TimeoutError:
            if not work.done():
                self._abandon(work)
                self._unanswered[(inbound.channel, inbound.message_id)] = None
                while len(self._unanswered) > MAX_UNANSWERED:
                    self._unanswered.popitem(last=False)
                raise StoreUnavailable(
                    f"the store did not answer within {self.budget_seconds:g} s"
                ) from None
            return work.result()  # it finished at the last moment (or raised its own error)
        except asyncio.CancelledError:
            self._abandon(work)
            raise

    def _abandon(self, work: asyncio.Task) -> None:
        """Cancel the work once and keep it until it has unwound (`close` waits for it):
        a second cancel, such as the loop's own at exit, would cut short the driver's
        closing of a connection the first one interrupted (SQLAlchemy then drops it
        unclosed)."""
        work.cancel()
        self._abandoned.add(work)
        work.add_done_callback(self._abandoned.discard)
        work.add_done_callback(_quietly)

    async def close(self) -> None:
        """Wait for abandoned work to finish unwinding (each is bounded by the store's own
        timeouts)."""
        if self._abandoned:
            await asyncio.gather(*self._abandoned, return_exceptions=True)


def _quietly(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log "never retrieved"
