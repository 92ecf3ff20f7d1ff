"""Carrying out Telegram operations, and reporting failures as the channel's typed errors.

python-telegram-bot's rate limiter (AIORateLimiter) spaces the calls and waits out
RetryAfter a few times; network errors are retried here with growing delays. What is
left becomes Throttled, ContactStopped (the person blocked the bot), BadRequest,
Unreachable or SendError, so the caller decides what it means. Error texts never carry
the bot token.

Telegram failing (a 5xx, an HTML page from its proxy, no connection) is an outage,
reported once (bot/outages.py) and shown in /healthz; replies in a conversation wait it
out, in order, and go once Telegram answers again.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import TypeVar

from telegram import Bot, InputFile, ReplyParameters
from telegram.error import (
    BadRequest as TelegramBadRequest,
)
from telegram.error import (
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from bot.channels.base import BadRequest, ContactStopped, SendError, Throttled, Unreachable
from bot.channels.telegram.render import (
    AnswerPress,
    ClearKeyboard,
    EditText,
    Operation,
    SendFile,
    SendText,
)
from bot.outages import Outage, describe
from bot.retry import Backoff, patiently, retried

log = logging.getLogger(__name__)

T = TypeVar("T")


def is_transient(error: BaseException) -> bool:
    """A network error worth trying again (a bad request is a NetworkError too, but not)."""
    return isinstance(error, NetworkError) and not isinstance(error, TelegramBadRequest)


def retry_after_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():  # the int-or-timedelta attribute is being migrated
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Sender:
    def __init__(
        self,
        bot: Bot,
        *,
        scrub: Callable[[str], str],
        backoff: Backoff = Backoff(0.5, 8.0, factor=2.0),
        attempts: int = 4,
        stopping: asyncio.Event | None = None,
    ) -> None:
        self.bot = bot
        self.scrub = scrub
        self.backoff = backoff
        self.attempts = attempts
        self.stopping = stopping or asyncio.Event()
        self.outage = Outage(log, "Telegram sending")

    async def _observed(self, request: Callable[[], Awaitable[T]]) -> T:
        """One attempt; any answer from Telegram but a network error ends an outage."""
        try:
            result = await request()
        except TelegramError as error:
            if is_transient(error):
                self.outage.failed(self.scrub(str(error)))
            else:
                self.outage.recovered()
            raise
        self.outage.recovered()
        return result

    async def call(self, request: Callable[[], Awaitable[T]]) -> T:
        """Make one Bot API call, retrying network errors; raise typed SendErrors."""
        try:
            return await retried(
                lambda: self._observed(request),
                attempts=self.attempts,
                backoff=self.backoff,
                when=is_transient,
                what="Telegram call",
                describe=lambda error: describe(self.scrub(str(error))),
            )
        except RetryAfter as error:
            seconds = retry_after_seconds(error)
            raise Throttled(self.scrub(str(error)), retry_after=seconds) from None
        except Forbidden as error:
            raise ContactStopped(self.scrub(str(error))) from None
        except TelegramBadRequest as error:  # a subclass of NetworkError: check first
            raise BadRequest(self.scrub(str(error))) from None
        except InvalidToken as error:  # 401, or 404 for a method the server lacks
            raise SendError(
                f"{self.scrub(str(error))} (a method this Bot API server lacks, "
                "or a revoked bot token)"
            ) from None
        except NetworkError as error:  # still failing after every attempt
            raise Unreachable(self.scrub(str(error))) from None
        except TelegramError as error:
            raise SendError(self.scrub(str(error))) from None

    async def perform(self, chat_id: int, operation: Operation) -> None:
        bot = self.bot
        match operation:
            case SendText(text=text, keyboard=markup, reply_to=reply_to):
                parameters = (
                    ReplyParameters(reply_to, allow_sending_without_reply=True)
                    if reply_to
                    else None
                )
                await self.call(
                    lambda: bot.send_message(
                        chat_id, text, reply_markup=markup, reply_parameters=parameters
                    )
                )
            case EditText(message_id=message_id, text=text, keyboard=markup):
                try:
                    await self.call(
                        lambda: bot.edit_message_text(
                            text, chat_id=chat_id, message_id=message_id, reply_markup=markup
                        )
                    )
                except BadRequest as error:
                    if "not modified" in str(error):
                        return
                    # Too old or gone: show the card as a new message instead.
                    log.info("cannot edit Telegram message (%s); sending a new one", error)
                    await self.perform(chat_id, SendText(text, markup))
            case ClearKeyboard(message_id=message_id):
                try:
                    await self.call(
                        lambda: bot.edit_message_reply_markup(
                            chat_id=chat_id, message_id=message_id, reply_markup=None
                        )
                    )
                except BadRequest as error:
                    log.debug("keyboard not cleared: %s", error)
            case AnswerPress(callback_query_id=query_id):
                try:
                    await self.call(lambda: bot.answer_callback_query(query_id))
                except BadRequest as error:  # e.g. too old after a retried webhook
                    log.debug("button press not answered: %s", error)
            case SendFile():
                await self._send_file(chat_id, operation)

    async def _send_file(self, chat_id: int, operation: SendFile) -> None:
        attachment = operation.attachment
        document = InputFile(attachment.content, filename=attachment.filename)
        caption = operation.caption or None
        if operation.is_photo:
            await self.call(
                lambda: self.bot.send_photo(
                    chat_id, document, caption=caption, reply_markup=operation.keyboard
                )
            )
        else:
            await self.call(
                lambda: self.bot.send_document(
                    chat_id, document, caption=caption, reply_markup=operation.keyboard
                )
            )

    async def perform_all(self, chat_id: int, operations: Sequence[Operation]) -> None:
        """Carry out every operation in order; the first failure is raised."""
        for operation in operations:
            await self.perform(chat_id, operation)

    async def perform_patiently(
        self,
        chat_id: int,
        pending: list[Operation],
        *,
        on_outage: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Carry out the `pending` operations of a conversation in order, removing each
        from the list once done with it: one refused or throttled message does not stop the
        rest, but a person who blocked the bot gets nothing more (ContactStopped is
        raised). While Telegram is unreachable each operation waits until it answers again,
        or until the channel stops: what is left in `pending` then was not sent.
        `on_outage` runs at each failed try while Telegram is unreachable."""
        heard = (lambda _error, _attempt, _delay: on_outage()) if on_outage else None
        while pending:
            operation = pending[0]
            try:
                await patiently(
                    partial(self.perform, chat_id, operation),
                    when=lambda error: isinstance(error, Unreachable),
                    stopping=self.stopping,
                    backoff=self.backoff,
                    on_failure=heard,
                )
            except ContactStopped:
                raise
            except Unreachable:  # only once stopping: until then it waits
                return
            except SendError as error:
                log.warning("Telegram %s not sent: %s", type(operation).__name__, error)
            del pending[0]
