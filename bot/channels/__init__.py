"""The channel registry: each module here has `create(services, http) -> Channel | None`.

`create` returns None (after logging one line on how to enable the channel) when the
channel is not configured, so Chorus starts with whatever channels have their tokens.
Adding a channel means adding one module and listing it here.
"""

from __future__ import annotations

import importlib
import logging

import aiohttp

from bot.channels.base import Channel
from bot.services import Services

log = logging.getLogger(__name__)

CHANNEL_MODULES: tuple[str, ...] = (
    "bot.channels.telegram",
    "bot.channels.twitter",
    "bot.channels.sms",
    "bot.channels.voice",
    "bot.channels.web",
)


def build_channels(services: Services, http: aiohttp.ClientSession) -> list[Channel]:
    channels: list[Channel] = []
    for module_name in CHANNEL_MODULES:
        channel = importlib.import_module(module_name).create(services, http)
        if channel is not None:
            channels.append(channel)
    return channels
