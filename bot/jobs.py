"""The background job runner: charts, exports and re-clustering, outside any webhook.

Jobs are claimed in a short transaction (several runners, in this process or others,
never take the same job), done by handlers/team/jobs.py, and their replies delivered
through the requesting channel's `Channel.deliver` (the Telegram adapter sends photos
and documents). A failed job is retried with growing delays and, after the last
attempt, the person who asked is told. Every few minutes the runner also queues fresh
analyses of questions with new ideas.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from bot.channels.base import BadRequest, Channel, ContactStopped, SendError, Throttled
from bot.services import Services
from handlers.deps import Deps
from handlers.team.jobs import failure_reply, run_job, schedule_refreshes
from handlers.types import Reply
from storage.errors import StoreUnavailable
from storage.jobs import JobRecord

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=30)  # a job not settled by then is taken up again
MAX_ATTEMPTS = 3
KEEP_SETTLED = timedelta(days=30)  # settled jobs are forgotten after this


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(1800, 60 * 2 ** max(attempts - 1, 0)))


class JobRunner:
    def __init__(self, services: Services, channels: dict[str, Channel]) -> None:
        self.services = services
        self.channels = channels
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._last_schedule: datetime | None = None
        self.completed = 0  # jobs settled by this runner
        self._settled = asyncio.Condition()

    @property
    def deps(self) -> Deps:
        """The handlers' dependencies (store, settings, clock, ...)."""
        return self.services.deps

    def wake(self) -> None:
        """Look for work now (called when a team command queued a job)."""
        self._wake.set()

    def stop(self) -> None:
        """Have `run_forever` return once the step under way is done (cancelling it
        mid-statement leaves a pooled connection to be reset while cancelled)."""
        self._stopping.set()
        self._wake.set()

    async def run_once(self) -> int:
        """Claim and do at most one due job; returns 1 if one was done, else 0."""
        async with self.services.store.transaction() as unit:
            claimed = await unit.jobs.claim(self.deps.clock(), lease=LEASE)
        if not claimed:
            return 0
        await self._do(claimed[0])
        async with self._settled:
            self.completed += 1
            self._settled.notify_all()
        return 1

    async def wait_until_completed(self, count: int) -> None:
        """Wait until this runner has settled `count` jobs in all (wrap it in
        asyncio.timeout)."""
        async with self._settled:
            await self._settled.wait_for(lambda: self.completed >= count)

    async def run_until_idle(self, limit: int = 100) -> int:
        done = 0
        while done < limit and await self.run_once():
            done += 1
        return done

    async def _do(self, job: JobRecord) -> None:
        try:
            replies = await run_job(self.deps, job, self.deps.clock())
        except StoreUnavailable:
            raise
        except Exception as exc:
            log.exception("job %s (%s) failed", job.id, job.kind)
            await self._failed(job, exc)
            return
        error = await self._deliver(job, replies)
        give_up = False
        async with self.services.store.transaction() as unit:
            if error is None or isinstance(error, BadRequest | ContactStopped):
                await unit.jobs.finish(job.id, self.deps.clock())
            else:
                delay = (
                    timedelta(seconds=error.retry_after)
                    if isinstance(error, Throttled)
                    else backoff(job.attempts)
                )
                give_up = job.attempts >= MAX_ATTEMPTS
                await unit.jobs.retry_later(
                    job.id, str(error), self.deps.clock(), delay=delay, give_up=give_up
                )
        if error is not None:
            log.warning("job %s result not delivered: %s", job.id, error)
        if isinstance(error, BadRequest) or give_up:
            # The result will never arrive (refused, e.g. a file too large, or out of
            # attempts): say so in a plain message rather than leave them waiting.
            assert error is not None  # give_up is only set when delivery failed
            await self._deliver(job, [failure_reply(job, error, delivered=True)])

    async def _failed(self, job: JobRecord, error: BaseException) -> None:
        give_up = job.attempts >= MAX_ATTEMPTS
        async with self.services.store.transaction() as unit:
            await unit.jobs.retry_later(
                job.id,
                f"{type(error).__name__}: {error}",
                self.deps.clock(),
                delay=backoff(job.attempts),
                give_up=give_up,
            )
        if give_up:
            await self._deliver(job, [failure_reply(job, error)])

    async def _deliver(self, job: JobRecord, replies: list[Reply]) -> SendError | None:
        if not replies or job.reply_channel is None or job.reply_address_encrypted is None:
            return None
        channel = self.channels.get(job.reply_channel)
        address = self.services.contacts.decrypt(job.reply_address_encrypted)
        if channel is None or address is None:
            return BadRequest(f"no way to reach the requester on {job.reply_channel}")
        try:
            await channel.deliver(address, replies)
        except SendError as failure:
            return failure
        except Exception as failure:  # a network fault or a bug in an adapter
            log.exception("delivering job %s failed", job.id)
            return SendError(f"{type(failure).__name__}: {failure}")
        return None

    async def schedule(self) -> int:
        """Queue re-analysis where it is due (at most once per refresh interval)."""
        now = self.deps.clock()
        every = timedelta(minutes=self.deps.config.insights.refresh_minutes)
        if self._last_schedule is not None and now - self._last_schedule < every:
            return 0
        self._last_schedule = now
        async with self.services.store.transaction() as unit:
            await unit.jobs.purge(now - KEEP_SETTLED)
        return await schedule_refreshes(self.deps, now)

    async def run_forever(self, interval: float = 5.0) -> None:
        while not self._stopping.is_set():
            try:
                await self.schedule()
                while await self.run_once():
                    pass
            except StoreUnavailable as error:
                log.warning("jobs paused: %s", error)
            except Exception:  # never let one bad job stop the runner
                log.exception("the job runner hit an error; carrying on")
            if self._stopping.is_set():
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
