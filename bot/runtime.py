"""Starting and stopping Chorus: the store, the web server, the channels and the
background jobs, all on Chorus's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time

import aiohttp
from aiohttp import web

from bot.channels import build_channels, check_sections, declarations, media
from bot.channels.base import Channel
from bot.config import ConfigError, Settings
from bot.jobs import JobRunner
from bot.outbox import OutboxDispatcher
from bot.server import build_web_app
from bot.services import Services, open_services
from handlers.enrichment_process import EnrichmentProcess
from storage.backup import in_use

log = logging.getLogger(__name__)

# Background job workers: two, so a long re-clustering never holds up a chart someone
# is waiting for (jobs are claimed safely by any number of workers).
JOB_WORKERS = 2
# `chorus run` stops within 5 s of SIGTERM: a channel still waiting out a provider's
# retry (python-telegram-bot sleeps up to 30 s between failed polls) is left behind.
CHANNEL_STOP_SECONDS = 2.0
# The background jobs finish the step under way when stopping (one cut off mid-statement
# leaves its pooled connection to be reset while cancelled, logged as an error); one
# still busy after this long (a long job) is cancelled.
JOBS_STOP_SECONDS = 1.0
MEMORY = "memory"  # listed as warming by /healthz until `settle_memory` is done
# Once settled, a young-generation collection every 20,000 new objects instead of every
# 700: a message allocates thousands, and the default made several collections of each
# message's short-lived objects (bench/load.py, SQLite, three alternating pairs: 0.06,
# 0.10 and 0.25 ms less CPU a message, of about 1.5).
YOUNG_OBJECTS_PER_COLLECTION = 20_000
OLDER_COLLECTIONS_EVERY = 20


class Runtime:
    """One running Chorus process. `start()` returns once it is serving. `enricher`: see
    `open_services` (a worker process the caller started and closes; else one of its own)."""

    def __init__(
        self,
        settings: Settings,
        *,
        host: str | None = None,
        port: int | None = None,
        enricher: EnrichmentProcess | None = None,
    ):
        self.settings = settings
        self.enricher = enricher
        self.host = host or settings.file.server.host
        self.port = settings.file.server.port if port is None else port
        self.services: Services | None = None
        self.channels: list[Channel] = []
        self._http: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._jobs: list[asyncio.Task] = []
        self.job_runner: JobRunner | None = None
        self._dispatcher: OutboxDispatcher | None = None
        self._in_use: contextlib.ExitStack | None = None

    async def start(self) -> None:
        # Every channel's config.yaml section, before anything is opened: a mistake there
        # stops Chorus with one line, as one anywhere else in the file does.
        check_sections(self.settings, declarations())
        # Held while serving, so `chorus db restore` refuses to swap the store underneath.
        self._in_use = contextlib.ExitStack()
        self._in_use.enter_context(in_use(self.settings.env.database_url))
        self.services = await open_services(
            self.settings, warm_later=True, channel_media=media(), enricher=self.enricher
        )
        try:
            self._http = aiohttp.ClientSession()
            self.channels = build_channels(self.services, self._http)
            self._runner = web.AppRunner(
                build_web_app(self.services, self.channels), access_log=None
            )
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.port)
            try:
                await site.start()
            except OSError as error:
                reason = str(error.strerror or error).rsplit(": ", 1)[-1]
                raise ConfigError(
                    f"cannot listen on {self.host}:{self.port} ({reason}); choose another "
                    f"address with --host and --port, or server.host and server.port"
                ) from None
            self.port = self._runner.addresses[0][1]
            # Listening first, models after: /healthz answers at once and webhooks are
            # taken (messages that need the models wait for them).
            self.services.start_warming()
            log.info(
                "Chorus (%s) is serving on http://%s:%s (store: %s; event loop: %s)",
                self.settings.consultation.consultation.name,
                self.host,
                self.port,
                self.services.store.backend,
                type(asyncio.get_running_loop()).__module__.split(".")[0],
            )
            for channel in self.channels:
                await channel.start()
                log.info("channel %s started", channel.name)
                page_path = getattr(channel, "page_path", None)
                if page_path:
                    log.info("Take part at http://%s:%s%s", self.host, self.port, page_path)
            by_name = {c.name: c for c in self.channels}
            self._dispatcher = OutboxDispatcher(self.services, by_name)
            self._jobs.append(asyncio.create_task(self._dispatcher.run_forever(), name="outbox"))
            self.job_runner = JobRunner(self.services, by_name)
            self.services.engine.team.on_job_queued.append(self.job_runner.wake)
            for worker in range(JOB_WORKERS):
                self._jobs.append(
                    asyncio.create_task(self.job_runner.run_forever(), name=f"jobs-{worker}")
                )
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for loop in (self._dispatcher, self.job_runner):
            if loop is not None:
                loop.stop()
        if self._jobs:
            await asyncio.wait(self._jobs, timeout=JOBS_STOP_SECONDS)
        for job in self._jobs:
            job.cancel()
        for job in self._jobs:
            with contextlib.suppress(asyncio.CancelledError):
                await job
        self._jobs.clear()
        for channel in reversed(self.channels):
            try:
                async with asyncio.timeout(CHANNEL_STOP_SECONDS):
                    await channel.stop()
            except TimeoutError:
                log.info(
                    "channel %s did not stop within %g s; not waiting for it",
                    channel.name,
                    CHANNEL_STOP_SECONDS,
                )
            except Exception:
                log.exception("channel %s did not stop cleanly", channel.name)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self.services is not None:
            await self.services.close()
            self.services = None
        if self._in_use is not None:
            self._in_use.close()
            self._in_use = None


async def settle_memory(services: Services) -> None:
    """Once the models and the alike indexes are built, move every object alive into the
    collector's permanent generation (`gc.freeze`). Without it, each full collection under
    load walks those few hundred thousand objects again: a pause of 100 ms or more in the
    middle of answering webhooks. Only for the server process: frozen objects are never
    collected, which a test process starting Chorus many times would pile up. /healthz
    lists "memory" as warming until then."""
    services.warming.begin(MEMORY)
    try:
        await services.warming.wait()
        if services.alike_warming is not None:
            await asyncio.wait([services.alike_warming])
        started = time.perf_counter()
        gc.collect()
        gc.freeze()
        gc.set_threshold(
            YOUNG_OBJECTS_PER_COLLECTION, OLDER_COLLECTIONS_EVERY, OLDER_COLLECTIONS_EVERY
        )
        log.info(
            "memory settled: %d objects frozen in %.2f s; a collection every %d new objects",
            gc.get_freeze_count(),
            time.perf_counter() - started,
            gc.get_threshold()[0],
        )
    finally:
        services.warming.finish(MEMORY)


async def serve_until_signalled(settings: Settings, host: str | None, port: int | None) -> None:
    runtime = Runtime(settings, host=host, port=port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await runtime.start()
    assert runtime.services is not None
    settling = asyncio.create_task(settle_memory(runtime.services), name="settle-memory")
    try:
        await stop.wait()
        log.info("stopping")
    finally:
        settling.cancel()
        await runtime.stop()
