"""The HTTP client for getUpdates, telling Chorus when Telegram answers properly again.

python-telegram-bot reports each failed poll to an error callback but says nothing when
polling works again; this request class calls `on_answer` after every well-formed (JSON,
2xx) answer, so an outage can be closed with one log line and /healthz stop saying the
channel is waiting. `quiet_provider_errors` keeps PTB's own tracebacks for such answers
out of the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.channels.telegram.aiohttp_request import AiohttpRequest


class ObservedRequest(AiohttpRequest):
    def __init__(self, on_answer: Callable[[], None], connection_pool_size: int = 1) -> None:
        super().__init__(connection_pool_size)
        self._on_answer = on_answer

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        if 200 <= code < 300 and payload.lstrip()[:1] == b"{":
            self._on_answer()
        return code, payload


class QuietProviderErrors(logging.Filter):
    """python-telegram-bot logs a non-JSON answer (a proxy's HTML error page) as an ERROR
    with a traceback, on every retry and once more while stopping. Chorus logs such an
    outage itself, once (bot/outages.py): these records become DEBUG, without traceback."""

    MESSAGES = ("Can not load invalid JSON data", "Error while calling `get_updates` one more")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and str(record.msg).startswith(self.MESSAGES):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            record.exc_info, record.exc_text = None, None
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


_QUIET = QuietProviderErrors()


def quiet_provider_errors() -> None:
    """Install the filter on PTB's loggers (idempotent)."""
    for name in ("telegram.request.BaseRequest", "telegram.ext.Updater"):
        logger = logging.getLogger(name)
        if _QUIET not in logger.filters:
            logger.addFilter(_QUIET)
