"""The channel registry: one line per channel module, each declaring itself with a
`DECLARATION` (bot/channels/kit.py): name, medium, settings model and `create`.

`create` returns None (after logging one line on how to enable the channel) when the
channel is not configured, so Chorus starts with whatever channels have their tokens.
"""

from __future__ import annotations

import importlib
import logging

import aiohttp

from bot.channels.base import Channel
from bot.channels.kit import Declaration, check_sections

__all__ = ["build_channels", "check_sections", "declarations", "media"]
from bot.services import Services

log = logging.getLogger(__name__)

CHANNEL_MODULES: tuple[str, ...] = (
    "bot.channels.telegram",
    "bot.channels.twitter",
    "bot.channels.sms",
    "bot.channels.voice",
    "bot.channels.web",
    "bot.channels.whatsapp",
)


def declarations() -> list[Declaration]:
    return [importlib.import_module(name).DECLARATION for name in CHANNEL_MODULES]


def media() -> dict[str, str]:
    """Each declared channel's medium, by channel name."""
    return {declaration.name: declaration.medium for declaration in declarations()}


def build_channels(services: Services, http: aiohttp.ClientSession) -> list[Channel]:
    declared = declarations()
    check_sections(services.settings, declared)
    channels: list[Channel] = []
    for declaration in declared:
        channel = declaration.create(services, http)
        if channel is not None:
            channel.medium = declaration.medium
            channels.append(channel)
    return channels
