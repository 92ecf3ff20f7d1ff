"""Loading and validating config.yaml plus the deployment settings from the environment.

`load_settings` never exits the process: it raises `ConfigError` with one readable line
naming the key and the problem, and the `chorus` command decides what to do with it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ConfigDict, Field, ValidationError, field_validator

from handlers.settings import ConsultationConfig, Strict
from storage.timeouts import StoreTimeouts

DEFAULT_CONFIG = Path("config.yaml")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/chorus.db"


class ConfigError(Exception):
    """A configuration problem, worded for the person running Chorus."""


class ServerSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # Addresses or networks of TLS proxies whose X-Forwarded-Proto/-For/-Host to honour.
    trusted_proxies: list[str] = []

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: list[str]) -> list[str]:
        from bot.networks import parse_networks

        parse_networks(value)  # raises ValueError naming the bad entry
        return value


class StoreSettings(Strict):
    """How long Chorus waits for its database (see storage/timeouts.py)."""

    connect_seconds: float = Field(default=3.0, gt=0, le=60)
    statement_seconds: float = Field(default=15.0, gt=0, le=3600)
    pool_seconds: float = Field(default=3.0, gt=0, le=60)
    webhook_seconds: float = Field(default=4.0, gt=0, le=14)
    health_seconds: float = Field(default=0.8, gt=0, le=5)

    def timeouts(self) -> StoreTimeouts:
        return StoreTimeouts(**self.model_dump())


class ChannelSettings(Strict):
    """The `channels:` mapping, kept as written: each `channels.<name>` section belongs to
    a channel declared through the kit (bot/channels/kit.py), whose own settings model,
    in its own module, validates it when Chorus starts. Nothing here names a channel."""

    model_config = ConfigDict(extra="allow", frozen=True)


class FileSettings(ConsultationConfig):
    """The whole of config.yaml."""

    server: ServerSettings = ServerSettings()
    store: StoreSettings = StoreSettings()
    channels: ChannelSettings = ChannelSettings()


@dataclass(frozen=True)
class Environment:
    """Deployment settings and secrets, read from the environment only."""

    database_url: str
    secret: str | None
    # Every variable that is set (values stripped, empty ones left out): each channel
    # reads its own through its secrets model (bot/channels/kit.py).
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Environment:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        return cls(
            database_url=get("CHORUS_DATABASE_URL") or DEFAULT_DATABASE_URL,
            secret=get("CHORUS_SECRET"),
            environ={name: value.strip() for name, value in env.items() if value.strip()},
        )

    def __repr__(self) -> str:  # secrets must never reach a log line through repr()
        return f"Environment(database_url={_without_password(self.database_url)!r}, ...)"


@dataclass(frozen=True)
class Settings:
    file: FileSettings
    env: Environment
    path: Path

    @property
    def consultation(self) -> ConsultationConfig:
        return self.file


def _without_password(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
    return url


def format_validation_error(path: Path, error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    message = first["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    more = len(error.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    # Whole-file checks have no location of their own; their message names the key.
    return f"{path}: {location + ': ' if location else ''}{message}{suffix}"


def parse_settings(raw: object, path: Path) -> FileSettings:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        return FileSettings.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(format_validation_error(path, error)) from None


def load_settings(
    path: Path | str | None = None, environ: dict[str, str] | None = None
) -> Settings:
    config_path = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{config_path}: no such file (pass --config PATH)") from None
    except OSError as error:
        raise ConfigError(f"{config_path}: cannot be read ({error.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise ConfigError(f"{config_path}: {problem}{where}") from None
    return Settings(
        file=parse_settings(raw, config_path),
        env=Environment.from_environ(environ),
        path=config_path,
    )
