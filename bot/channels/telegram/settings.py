"""The Telegram channel's settings: `channels.telegram` in config.yaml, and its two
secrets from the environment (TELEGRAM_BOT_TOKEN turns the channel on;
TELEGRAM_WEBHOOK_SECRET is for webhook mode)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from bot.channels.secrets import ChannelSecrets
from handlers.settings import Strict


class TelegramSettings(Strict):
    mode: Literal["polling", "webhook"] = "polling"
    base_url: str = "https://api.telegram.org/bot"
    public_url: str | None = None

    @field_validator("base_url")
    @classmethod
    def _base_url_takes_a_token(cls, value: str) -> str:
        # The token is appended: without a path, its part after the colon would be read
        # as a port number (and quoted in errors).
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or not parts.path:
            raise ValueError(
                f"{value!r} is not a Bot API base such as https://api.telegram.org/bot "
                "(the token is appended to it)"
            )
        return value


class TelegramSecrets(ChannelSecrets):
    token: SecretStr | None = Field(default=None, alias="TELEGRAM_BOT_TOKEN")
    webhook_secret: SecretStr | None = Field(default=None, alias="TELEGRAM_WEBHOOK_SECRET")
