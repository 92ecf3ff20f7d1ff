"""The Telegram channel: participants talk to the bot in private chats, with buttons.

`create` returns the adapter when TELEGRAM_BOT_TOKEN is set, and otherwise logs one line
on how to enable it. config.yaml `channels.telegram` chooses polling (default) or webhook
mode; webhook mode also needs `public_url` and TELEGRAM_WEBHOOK_SECRET (both models are in
settings.py).
"""

from __future__ import annotations

import logging
import os
import re
from typing import TYPE_CHECKING

import aiohttp

# Opt in to python-telegram-bot's coming time periods as timedelta (e.g. RetryAfter):
# without it, PTB warns about the change each time it builds such an error.
os.environ.setdefault("PTB_TIMEDELTA", "1")

from bot.channels.kit import Declaration  # noqa: E402
from bot.channels.telegram.settings import TelegramSecrets, TelegramSettings  # noqa: E402
from bot.config import ConfigError  # noqa: E402
from bot.services import Services  # noqa: E402

if TYPE_CHECKING:
    from bot.channels.telegram.channel import TelegramChannel

log = logging.getLogger(__name__)

# What Telegram accepts as a webhook secret token.
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def create(services: Services, http: aiohttp.ClientSession) -> TelegramChannel | None:
    """The adapter, or None when no token is set. PTB brings its own HTTP client (one
    for the adapter), so the shared aiohttp session is not used. PTB is imported only
    here: with Telegram off, Chorus starts without it (a fifth of its start-up)."""
    secrets: TelegramSecrets = DECLARATION.secrets_from(services.settings)
    if secrets.token is None:
        log.info("Telegram is off: set TELEGRAM_BOT_TOKEN (a token from @BotFather) to enable it")
        return None
    settings: TelegramSettings = DECLARATION.settings_from(services.settings)
    secret = secrets.webhook_secret.get_secret_value() if secrets.webhook_secret else None
    if settings.mode == "webhook":
        if not settings.public_url or not settings.public_url.startswith("https://"):
            raise ConfigError(
                "channels.telegram.public_url: webhook mode needs the public https:// URL "
                "Telegram posts to, e.g. https://example.org/webhooks/telegram"
            )
        if not secret:
            raise ConfigError("webhook mode needs TELEGRAM_WEBHOOK_SECRET in the environment")
        if not _SECRET.match(secret):
            raise ConfigError(
                "TELEGRAM_WEBHOOK_SECRET may use only A-Z, a-z, 0-9, _ and -, up to 256 characters"
            )
    from bot.channels.telegram.channel import TelegramChannel

    return TelegramChannel(
        services,
        token=secrets.token.get_secret_value(),
        settings=settings,
        webhook_secret=secret,
    )


__all__ = ["DECLARATION", "create"]


DECLARATION = Declaration(
    name="telegram",
    medium="chat",
    create=create,
    settings=TelegramSettings,
    secrets=TelegramSecrets,
)
