"""The X channel's settings: `channels.twitter` in config.yaml (the key it has always
had), and X_BEARER_TOKEN from the environment, which turns the listener on."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from bot.channels.secrets import ChannelSecrets
from handlers.settings import ConsultationConfig, Strict

SECTION = "twitter"


class TwitterSettings(Strict):
    mode: Literal["auto", "stream", "poll"] = "auto"
    poll_seconds: float = Field(default=60, gt=0)
    api_base: str = "https://api.twitter.com"
    question: str | None = None
    metrics_max_age_hours: float = Field(default=72, ge=0)

    @field_validator("api_base")
    @classmethod
    def _api_base_is_a_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not an http(s) URL such as https://api.twitter.com")
        return value

    @field_validator("question")
    @classmethod
    def _question_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        # The kit validates a channel's section with the consultation as context.
        consultation = (info.context or {}).get("consultation")
        if value is None or not isinstance(consultation, ConsultationConfig):
            return value
        if value not in {question.key for question in consultation.questions}:
            raise ValueError(f"no question has the key {value!r}")
        return value


class XSecrets(ChannelSecrets):
    bearer_token: SecretStr | None = Field(default=None, alias="X_BEARER_TOKEN")
