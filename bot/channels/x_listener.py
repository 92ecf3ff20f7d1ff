"""The X hashtag listener: public posts with the consultation's hashtags into the store,
exactly once, whatever happens to the connection or the process.

    lease (one listener per deployment) ─► stream | poll ─► engine.ingest_public
                                              │               (posts + checkpoint in
                                              └─ backfill ───► one transaction)

- `stream`: make sure Chorus's rule exists (tag "chorus"), connect, then backfill with
  recent search from the checkpoint (posts made while away), and reconnect after a drop
  with exponential backoff and jitter, backfilling again. While a backfill runs, stream
  posts are stored but do not move the checkpoint past posts not fetched yet.
- `poll`: recent search every poll_seconds from the checkpoint (since_id), following
  next_token; pages are all fetched first, then stored oldest first in batches that
  each move the checkpoint, so a crash part-way loses nothing.
- `auto`: the stream, falling back to polling when X says the access level does not
  include it.
- X failing (5xx, timeouts, unreadable answers) is an outage, reported once
  (bot/outages.py) and shown in /healthz as `waiting`, until X answers again.
- 429: wait until x-rate-limit-reset. 401, and 403 where no fallback exists: stop with
  one clear log line; the rest of Chorus keeps running. Every fault is logged once:
  the same fault again, however long the next wait, goes to DEBUG until things recover.
- Public metrics of posts younger than metrics_max_age_hours are refreshed regularly.

Stream mode lives in x_stream.py, the backfill in x_search.py and the reach refresh in
x_reach.py; they use this class's public methods (call, ingest, fault, set_state, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp

from bot.channels.x_api import (
    ListenerStopped,
    RateLimited,
    Rejected,
    Unauthorized,
    Unavailable,
    XApi,
    XError,
)
from bot.channels.x_host import Timings
from bot.channels.x_posts import CHANNEL, posts_from_payload
from bot.channels.x_reach import refresh_reach, refresh_reach_forever
from bot.channels.x_search import backfill
from bot.channels.x_settings import TwitterSettings
from bot.channels.x_stream import StreamFollower, StreamNotAllowed
from bot.outages import Outage
from bot.retry import Backoff
from bot.services import Services
from handlers.public import (
    Checkpoint,
    IngestResult,
    keep_failed_post,
)
from handlers.types import PublicPost
from storage.errors import StoreConflict, StoreUnavailable
from storage.leases import Lease, lease

log = logging.getLogger(__name__)

CHECKPOINT = "x.newest_id"
LEASE = "x-listener"


class _LeaseLost(Exception):
    pass


def _query(hashtags: tuple[str, ...]) -> str:
    return hashtags[0] if len(hashtags) == 1 else "(" + " OR ".join(hashtags) + ")"


class XListener:
    def __init__(
        self,
        services: Services,
        http: aiohttp.ClientSession,
        token: str,
        config: TwitterSettings,
        *,
        timings: Timings = Timings(),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.services = services
        self.engine = services.engine
        self.config = config
        self.hashtags = services.settings.consultation.consultation.hashtags
        self.query = _query(self.hashtags)
        self.timings = timings
        self.sleep = sleep
        self.wall_clock = wall_clock
        self.api = XApi(
            token,
            http,
            self.config.api_base,
            request_timeout=timings.request_timeout,
            stall_seconds=timings.stall,
        )
        self.state = "starting"
        self.mode: str | None = None
        self.reason: str | None = None
        self.counts: Counter[str] = Counter()
        self._last_fault: str | None = None
        self.outage = Outage(log, "X API")
        self._changed = asyncio.Condition()

    # --- what others see ------------------------------------------------------------

    def status(self) -> dict:
        status = {
            "running": self.state != "stopped",
            "state": self.state,
            "mode": self.mode,
            "reason": self.reason,
            "counts": dict(self.counts),
        }
        if self.outage.waiting:
            status["waiting"] = self.outage.waiting
        return status

    async def wait_until(self, predicate: Callable[[XListener], bool]) -> None:
        """Wait until `predicate(self)` holds (callers bound the wait with a timeout)."""
        async with self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    async def notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def set_state(self, state: str) -> None:
        self.state = state
        await self.notify()

    def fault(self, message: str, then: str = "", *, error: BaseException | None = None) -> None:
        """Log a fault once: the same `message` again, before a recovery, goes to DEBUG
        (`then`, e.g. how long until the next try, is not part of what makes it the same).
        With `error`, the first line carries its traceback (a bug, not an X answer)."""
        self.counts["faults"] += 1
        repeat = message == self._last_fault
        log.log(
            logging.DEBUG if repeat else logging.ERROR if error else logging.WARNING,
            "X listener: %s%s",
            message,
            f"; {then}" if then else "",
            exc_info=error if error is not None and not repeat else None,
        )
        self._last_fault = message

    def failed(self, error: BaseException, what: str, then: str = "") -> None:
        """A failed step: X itself failing is its outage, anything else a fault."""
        if isinstance(error, Unavailable):
            self.counts["faults"] += 1
            self.outage.failed(f"{what}: {error}")
        else:
            self.fault(f"{what} ({error})", then)

    def recovered(self) -> None:
        self.outage.recovered()
        if self._last_fault is not None:
            log.info("X listener: working again")
            self._last_fault = None

    # --- the lease ------------------------------------------------------------------

    async def run(self) -> None:
        """Listen until cancelled, or until X refuses the token (state "stopped")."""
        backoff = Backoff(self.timings.retry_initial, self.timings.retry_max)
        while True:
            try:
                async with lease(self.services.store, LEASE) as held:
                    if held.held:
                        await self._lead(held)
                if self.state != "standby":
                    log.info("X listener: another Chorus process is listening; standing by")
                    await self.set_state("standby")
                delay = self.timings.lease_retry
            except ListenerStopped as stop:
                self.reason = str(stop)
                log.error("X listener stopped: %s", stop)
                await self.set_state("stopped")
                return
            except _LeaseLost:
                self.fault("lost the listener lease; another process may take over")
                await self.set_state("standby")
                delay = self.timings.lease_retry
            except StoreUnavailable as error:
                delay = backoff.next()
                self.fault(f"the store is unavailable ({error})", f"trying again in {delay:.3g} s")
            except Exception as error:  # a bug must not end listening for good
                delay = backoff.next()
                self.fault(
                    f"failed ({type(error).__name__}: {error})",
                    f"starting again in {delay:.3g} s",
                    error=error,
                )
            await self.sleep(delay)

    async def _lead(self, held: Lease) -> None:
        log.info("X listener: listening for %s (mode %s)", self.query, self.config.mode)
        await _first_failure(self._watch_lease(held), self._listen(), refresh_reach_forever(self))

    async def _watch_lease(self, held: Lease) -> None:
        while True:
            await self.sleep(self.timings.lease_check)
            if not await held.check():
                raise _LeaseLost()

    # --- modes ----------------------------------------------------------------------

    async def _listen(self) -> None:
        if self.config.mode != "poll":
            self.mode = "stream"
            try:
                await StreamFollower(self).run()
            except StreamNotAllowed as denied:
                if self.config.mode == "stream":
                    raise ListenerStopped(
                        f"X refused the filtered stream ({denied}); the access level may not "
                        "include it: set channels.twitter.mode to poll or auto"
                    ) from None
                log.warning(
                    "X listener: X refused the filtered stream (%s); polling recent search "
                    "every %g s instead",
                    denied,
                    self.config.poll_seconds,
                )
            except Unauthorized as refused:
                raise ListenerStopped(self.unauthorized(refused)) from None
            except Rejected as refused:
                raise ListenerStopped(f"X refused the stream ({refused})") from None
        await self._poll_forever()

    async def _poll_forever(self) -> None:
        self.mode = "poll"
        backoff = Backoff(self.timings.retry_initial, self.timings.retry_max)
        while True:
            try:
                await self.set_state("listening")
                await self.backfill(settle=True)
                backoff.reset()
                self.recovered()
                delay = self.config.poll_seconds
            except (Unavailable, StoreUnavailable, StoreConflict) as error:
                delay = backoff.next()
                self.failed(error, "polling failed", f"trying again in {delay:.3g} s")
                await self.set_state("retrying")
            await self.sleep(delay)

    # --- search ---------------------------------------------------------------------

    async def checkpoint(self) -> str | None:
        """The newest post id stored so far."""
        async with self.services.store.reader() as unit:
            return await unit.checkpoints.get(CHECKPOINT)

    async def backfill(self, *, settle: bool, settled_before: float | None = None) -> None:
        """Store everything newer than the checkpoint (see x_search.py)."""
        await backfill(self, settle=settle, settled_before=settled_before)

    def read(self, payload: dict) -> list[PublicPost]:
        return posts_from_payload(
            payload, received_at=self.engine.clock(), question_key=self.config.question
        )

    async def ingest(self, posts: list[PublicPost], newest: str | None) -> IngestResult:
        """Store posts and move the checkpoint to `newest` (if given) in one transaction."""
        checkpoint = Checkpoint(CHECKPOINT, newest) if newest else None
        started = time.perf_counter()
        try:
            result = await self.engine.ingest_public(posts, checkpoint=checkpoint)
        except StoreUnavailable:
            raise
        except Exception as error:
            log.info(
                "X listener: storing %d posts failed (%s); storing them one by one",
                len(posts),
                type(error).__name__,
            )
            result = await self._ingest_one_by_one(posts, checkpoint)
        for name in ("ideas", "comments", "endorsements", "duplicates", "unmatched", "ignored"):
            self.counts[name] += getattr(result, name)
        # /metrics counts posts like other channels' messages, by outcome.
        outcomes = {
            "ok": result.stored + result.endorsements,
            "duplicate": result.duplicates,
            "ignored": result.unmatched + result.ignored,
        }
        share = (time.perf_counter() - started) / max(1, len(posts))
        for outcome, count in outcomes.items():
            for _ in range(count):
                self.services.metrics.observe(CHANNEL, outcome, share)
        await self.notify()
        return result

    async def _ingest_one_by_one(
        self, posts: list[PublicPost], checkpoint: Checkpoint | None
    ) -> IngestResult:
        """One odd post must not stop the listener: it is kept in failed_inbound."""
        total = IngestResult()
        for post in posts:
            try:
                total.add(await self.engine.ingest_public([post]))
            except StoreUnavailable:
                raise
            except Exception as error:
                log.error(
                    "X listener: post %s kept in failed_inbound (%s: %s)",
                    post.post_id,
                    type(error).__name__,
                    error,
                    exc_info=error,
                )
                await keep_failed_post(self.engine.deps, post, error)
                self.counts["failed"] += 1
        if checkpoint is not None:
            await self.engine.ingest_public([], checkpoint=checkpoint)
        return total

    async def refresh_metrics(self, *, max_batches: int = 10) -> int:
        """Refresh the reach of young posts now (see x_reach.py); returns how many."""
        return await refresh_reach(self, max_batches=max_batches)

    # --- X's answers ----------------------------------------------------------------

    async def call(
        self, what: str, call: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
    ) -> Any:
        """Make an X call, waiting out rate limits; 401 stops the listener."""
        while True:
            try:
                return await call(*args, **kwargs)
            except RateLimited as limited:
                delay = self.until(limited.reset_at)
                self.counts["rate_limited"] += 1
                self.fault(f"rate limited on {what} ({limited})", f"waiting {delay:.0f} s")
                await self.set_state("rate_limited")
                await self.sleep(delay)
            except Unauthorized as refused:
                raise ListenerStopped(self.unauthorized(refused)) from None

    def until(self, reset_at: float | None) -> float:
        if reset_at is None:
            return self.timings.rate_limit_default
        wait = reset_at - self.wall_clock() + self.timings.rate_limit_margin
        return min(max(wait, self.timings.rate_limit_margin), 15 * 60 + 60)

    @staticmethod
    def unauthorized(error: XError) -> str:
        return f"X refused the bearer token ({error}); check X_BEARER_TOKEN and restart Chorus"


async def _first_failure(*jobs: Coroutine[Any, Any, None]) -> None:
    """Run jobs together until one of them raises; then cancel the rest and raise that.
    A job that returns simply ends (e.g. metrics when X refuses lookups)."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if (failure := task.exception()) is not None:
                    raise failure
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
