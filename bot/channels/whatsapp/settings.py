"""The WhatsApp channel's settings: `channels.whatsapp` in config.yaml, and its three
secrets from the environment (the channel is on when all three are set)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from bot.channels.secrets import ChannelSecrets
from handlers.settings import Strict

ENV_NAMES = ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN")


class WhatsAppSettings(Strict):
    # The business phone number's id in the Meta app (not the number itself).
    phone_number_id: str | None = Field(default=None, pattern=r"^[0-9]{1,32}$")
    api_base: str = "https://graph.facebook.com"
    api_version: str = Field(default="v21.0", pattern=r"^v[0-9]+\.[0-9]+$")
    # An approved message template with one body parameter, for follow-ups sent more
    # than 24 hours after the person's last message; without it they are not sent.
    followup_template: str | None = Field(default=None, pattern=r"^[a-z0-9_]{1,512}$")

    @field_validator("api_base")
    @classmethod
    def _api_base_is_a_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not an http(s) URL such as https://graph.facebook.com")
        return value.rstrip("/")


class WhatsAppSecrets(ChannelSecrets):
    access_token: SecretStr | None = Field(default=None, alias="WHATSAPP_ACCESS_TOKEN")
    app_secret: SecretStr | None = Field(default=None, alias="WHATSAPP_APP_SECRET")
    verify_token: SecretStr | None = Field(default=None, alias="WHATSAPP_VERIFY_TOKEN")

    def missing(self) -> list[str]:
        values = (self.access_token, self.app_secret, self.verify_token)
        return [name for name, value in zip(ENV_NAMES, values, strict=True) if value is None]
