"""CHORUS_SECRET: the key behind pseudonyms and contact encryption.

When the environment has none, a random one is created once in a local file readable
only by its owner (mode 0600), so a single-machine install works out of the box and
pseudonyms stay stable across restarts. The secret itself is never logged.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from bot.config import ConfigError, Environment

log = logging.getLogger(__name__)

DEFAULT_SECRET_FILE = Path("var/chorus-secret")
MIN_LENGTH = 16


def resolve_secret(env: Environment, path: Path = DEFAULT_SECRET_FILE) -> str:
    if env.secret:
        if len(env.secret) < MIN_LENGTH:
            raise ConfigError(f"CHORUS_SECRET must be at least {MIN_LENGTH} characters long")
        return env.secret
    try:
        return _read_or_create(path)
    except OSError as error:
        raise ConfigError(
            f"CHORUS_SECRET is not set and {path} cannot be used ({error.strerror}); "
            f"set CHORUS_SECRET or make {path.parent} a writable folder"
        ) from None


def _read(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{path} can be read by other users (mode {mode:o}); run `chmod 600 {path}`"
        )
    secret = path.read_text(encoding="utf-8").strip()
    if len(secret) < MIN_LENGTH:
        raise ConfigError(f"{path} holds no usable secret; delete it to make a new one")
    return secret


def _read_or_create(path: Path) -> str:
    if path.exists():
        return _read(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting at once never both write; mode 0600 from the start,
    # so the secret is never readable by others, not even for a moment.
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)  # another process created it just now
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    log.warning(
        "CHORUS_SECRET is not set: created a new secret in %s (mode 0600). Back it up, or "
        "set CHORUS_SECRET; losing it breaks the link between people and their pseudonyms.",
        path,
    )
    return secret
