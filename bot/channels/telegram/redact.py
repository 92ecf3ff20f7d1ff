"""Keeping the bot token and the webhook secret out of every log line and error text.

The token is part of every Bot API URL (httpx logs request URLs; an error may quote
one), and python-telegram-bot logs each call's parameters at DEBUG, setWebhook's
secret_token among them. `Redact` is a logging filter put on the loggers that can see
them; it blanks both out of the message and out of the text of a logged exception.
"""

from __future__ import annotations

import logging

MASK = "***"

# Loggers whose records can carry a URL, a call's parameters or an error from the Bot
# API: httpx and httpcore, python-telegram-bot's own (a filter applies only to records
# of the logger it is on, not to its children, so each is named), and Chorus's loggers
# that log send failures with their tracebacks.
LOGGERS = (
    "httpx",
    "httpcore",
    "telegram.Bot",
    "telegram.ext",
    "telegram.ext.AIORateLimiter",
    "telegram.ext.Application",
    "telegram.ext.ExtBot",
    "telegram.ext.Updater",
    "telegram.request.BaseRequest",
    "telegram.request.HTTPXRequest",
    "bot.channels.telegram.channel",
    "bot.channels.telegram.menu",
    "bot.channels.telegram.sender",
    "bot.delivery",
    "bot.jobs",
    "bot.outbox",
)


class Redact(logging.Filter):
    def __init__(self, token: str, *secrets: str | None) -> None:
        super().__init__()
        # The bot's id before the colon is public; the part after it is the secret, and an
        # error may quote it alone (httpx reads it as a port when base_url lacks a path).
        _, _, key = token.partition(":")
        self.secrets = tuple(s for s in (token, key, *secrets) if s and len(s) >= 8)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call; the handler reports it
            return True
        clean = self.scrub(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the traceback prints scrubbed.
            text = logging.Formatter().formatException(record.exc_info)
            if self.scrub(text) != text:
                record.exc_text = self.scrub(text)
        elif record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        return True

    def install(self) -> None:
        for name in LOGGERS:
            logging.getLogger(name).addFilter(self)

    def remove(self) -> None:
        for name in LOGGERS:
            logging.getLogger(name).removeFilter(self)
