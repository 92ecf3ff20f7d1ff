"""The X channel: a listener that turns public posts carrying the consultation's
hashtags into contributions from channel "x". It never replies to posts.

Enabled by X_BEARER_TOKEN; settings under `channels.twitter` in config.yaml (mode auto |
stream | poll, poll_seconds, api_base, question, metrics_max_age_hours), both modelled in
x_settings.py. The listening itself is in x_listener.py, imported with tweepy only when
the channel is built: with X off, Chorus starts without them. This module is what the
channel registry sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import aiohttp

from bot.channels.base import Channel
from bot.channels.kit import Declaration
from bot.channels.x_settings import SECTION, TwitterSettings, XSecrets
from bot.services import Services

if TYPE_CHECKING:
    from bot.channels.x_listener import Timings

log = logging.getLogger(__name__)


class TwitterChannel(Channel):
    name = "x"

    def __init__(
        self,
        services: Services,
        http: aiohttp.ClientSession,
        token: str,
        *,
        settings: TwitterSettings | None = None,
        timings: Timings | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        from bot.channels.x_listener import Timings, XListener

        if settings is None:
            settings = DECLARATION.settings_from(services.settings)
        self.listener = XListener(
            services,
            http,
            token,
            settings,
            timings=timings or Timings(),
            sleep=sleep,
            wall_clock=wall_clock,
        )
        self._task: asyncio.Task | None = None

    def __repr__(self) -> str:
        return "TwitterChannel(<token hidden>)"

    async def start(self) -> None:
        """Listening runs in the background; start() returns at once."""
        self._task = asyncio.create_task(self._listen(), name="x-listener")

    async def _listen(self) -> None:
        try:
            await self.listener.run()
        except Exception:  # never let the listener take Chorus down with it
            log.exception("X listener ended unexpectedly")
            self.listener.state = "stopped"

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def status(self) -> dict:
        return self.listener.status()


def create(services: Services, http: aiohttp.ClientSession) -> TwitterChannel | None:
    settings: TwitterSettings = DECLARATION.settings_from(services.settings)
    secrets: XSecrets = DECLARATION.secrets_from(services.settings)
    hashtags = services.settings.consultation.consultation.hashtags
    if secrets.bearer_token is None:
        log.info(
            "X listener off: set X_BEARER_TOKEN to collect public posts with %s",
            " or ".join(hashtags) or "the consultation's hashtags",
        )
        return None
    if not hashtags:
        log.info("X listener off: list the hashtags to follow in consultation.hashtags")
        return None
    token = secrets.bearer_token.get_secret_value()
    return TwitterChannel(services, http, token, settings=settings)


DECLARATION = Declaration(
    name="x",
    medium="public",
    create=create,
    settings=TwitterSettings,
    secrets=XSecrets,
    section=SECTION,
)
