"""The Telegram adapter: python-telegram-bot driven on Chorus's own event loop.

Polling (the default) runs PTB's Updater; an update whose store transaction cannot
commit is tried again with growing delays, and polling pauses meanwhile so Telegram keeps
the rest. Webhook mode serves `POST /webhooks/telegram` on Chorus's server: 403 for a
wrong secret, 400 for a body that is not an update, 503 while the store cannot commit,
200 once the update's transaction has committed. Either way the engine records each
update_id once, so a resent update is never applied twice. Replies are sent after the
commit, in order per chat, through PTB's rate limiter (bot/channels/chat_sends.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections import OrderedDict
from collections.abc import Sequence
from datetime import timedelta
from typing import cast

from aiohttp import web
from telegram import Update
from telegram.error import BadRequest as TelegramBadRequest
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CallbackContext,
    TypeHandler,
)

from bot.channels.base import BadRequest, ContactStopped, SendError, Unreachable
from bot.channels.chat_sends import ChatSends
from bot.channels.kit import Forged, Malformed, NotReady, Owed, Parsed, WebhookChannel
from bot.channels.telegram.aiohttp_request import AiohttpRequest
from bot.channels.telegram.menu import register_commands
from bot.channels.telegram.observed import ObservedRequest, quiet_provider_errors
from bot.channels.telegram.rate_share import SharedRateLimiter, shared_by_workers
from bot.channels.telegram.redact import Redact
from bot.channels.telegram.render import (
    AnswerPress,
    Operation,
    SendText,
    link_keyboard,
    plain_text,
    plan,
)
from bot.channels.telegram.sender import Sender
from bot.channels.telegram.settings import TelegramSettings
from bot.channels.telegram.updates import (
    ALLOWED_UPDATES,
    CHANNEL,
    Action,
    Incoming,
    classify,
    parse_update,
)
from bot.config import ConfigError
from bot.outages import Outage
from bot.retry import Backoff, until_stored, wait_or_stop
from bot.services import Services
from handlers.catalogue import Catalogue
from handlers.types import Reply
from storage.errors import StoreUnavailable

SEND_CONNECTIONS = 16
SEND_POOL_WAIT_SECONDS = 30.0  # a send waits this long for a free connection

log = logging.getLogger(__name__)


class TelegramUnreachable(Exception):
    """Telegram could not be reached while starting: try again later."""


WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
GROUP_MEMORY = 1000  # recent group update ids remembered, to answer a replay only once


class TelegramChannel(WebhookChannel):
    name = CHANNEL
    path = WEBHOOK_PATH

    def __init__(
        self,
        services: Services,
        *,
        token: str,
        settings: TelegramSettings,
        webhook_secret: str | None = None,
        store_backoff: Backoff = Backoff(1.0, 60.0, factor=2.0),
        start_backoff: Backoff = Backoff(2.0, 120.0, factor=2.0),
        send_backoff: Backoff = Backoff(0.5, 8.0, factor=2.0),
        rate_limit_retries: int = 3,
        rate_limiter: BaseRateLimiter | None = None,
        poll_timeout: float = 10.0,
        coming_up_seconds: float = 5.0,
    ) -> None:
        super().__init__(services)
        self.mode = settings.mode
        self.base_url = settings.base_url
        self.public_url = settings.public_url
        self.store_backoff = store_backoff
        self.start_backoff = start_backoff
        self.poll_timeout = poll_timeout
        # How long a webhook update posted while the channel is still coming up waits for
        # it: after a restart Telegram posts what it holds at once, before setWebhook.
        self.coming_up_seconds = coming_up_seconds
        self._secret = webhook_secret
        self._redactor = Redact(token, webhook_secret)
        self._redactor.install()  # before the bot is built: it logs its URL then
        builder = (
            ApplicationBuilder()
            .token(token)
            .base_url(settings.base_url)
            .rate_limiter(rate_limiter or shared_by_workers(services.store, rate_limit_retries))
            # Sends over aiohttp (a tenth of httpx's CPU a call: aiohttp_request.py). The
            # rate limiter keeps the bot's workers to about 30 a second between them
            # (rate_share.py), which SEND_CONNECTIONS serve with room to spare.
            .request(AiohttpRequest(SEND_CONNECTIONS, pool_timeout=SEND_POOL_WAIT_SECONDS))
            .concurrent_updates(False)  # polled updates are applied one after another
        )
        # Telegram failing while polling (a 502 from its proxy, an HTML page): one WARNING
        # per outage, the reason in /healthz, and one line when it answers again.
        self._outage = Outage(log, "Telegram polling")
        quiet_provider_errors()
        if self.mode == "webhook":
            builder = builder.updater(None)
        else:
            observed = ObservedRequest(self._outage.recovered, connection_pool_size=1)
            builder = builder.get_updates_request(observed)
        self.application: Application = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_polled_update))
        self.application.add_error_handler(self._on_handler_error)
        self._stopping = asyncio.Event()
        self.sender = Sender(
            self.application.bot, scrub=self.scrub, backoff=send_backoff, stopping=self._stopping
        )
        self._languages = set(services.settings.consultation.consultation.languages)
        self._paused = False
        self._running = False
        self._waiting: str | None = None  # why Telegram is not up yet, while retrying
        self.up = asyncio.Event()  # set once the bot is receiving updates
        self._coming_up: asyncio.Task | None = None
        self.sends = ChatSends(services, CHANNEL)
        self._group_updates: OrderedDict[int, None] = OrderedDict()

    def scrub(self, text: str) -> str:
        return self._redactor.scrub(text)

    # --- Lifecycle ---------------------------------------------------------------------

    def routes(self) -> Sequence[web.RouteDef]:
        return [web.post(WEBHOOK_PATH, self.receive)] if self.mode == "webhook" else []

    async def start(self) -> None:
        """Come up; when Telegram cannot be reached, keep trying in the background so
        Chorus serves its other channels meanwhile. A refused token or URL is a
        ConfigError: trying again would not help."""
        self._stopping.clear()
        self._redactor.install()
        try:
            await self._come_up()
        except TelegramUnreachable as error:
            self._waiting = str(error)
            log.warning("%s; Chorus carries on and keeps trying", error)
            self._coming_up = asyncio.create_task(self._keep_coming_up(), name="telegram-start")

    async def stop(self) -> None:
        self._stopping.set()
        self._running = False
        self.up.clear()
        if self._coming_up is not None:
            self._coming_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._coming_up
            self._coming_up = None
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.sends.drained()
        await self.application.shutdown()
        self._redactor.remove()

    def status(self) -> dict:
        status: dict[str, object] = {
            "running": self._running,
            "mode": self.mode,
            "paused": self._paused,
        }
        limiter = self.application.bot.rate_limiter
        if isinstance(limiter, SharedRateLimiter):  # this worker's share of the bot's 30/s
            status["sends_per_second"] = limiter.per_second
        waiting = self._waiting or self._outage.waiting or self.sender.outage.waiting
        if waiting:
            status["waiting"] = waiting
        return status

    async def _come_up(self, bootstrap_retries: int = 3) -> None:
        """Every step of starting, each one safe to repeat after a failure."""
        await self._initialize()
        await register_commands(
            self.sender, self._languages, self.services.settings.consultation.team
        )
        if not self.application.running:
            await self.application.start()
        if self.mode == "polling":
            try:
                await self._start_polling(bootstrap_retries)
            except TelegramBadRequest as error:
                raise ConfigError(
                    f"Telegram refused to start polling at {self.base_url} "
                    f"(channels.telegram.base_url): {self.scrub(str(error))}"
                ) from None
            except NetworkError as error:  # deleteWebhook kept failing
                raise TelegramUnreachable(
                    f"Telegram polling could not start at {self.base_url} "
                    f"(channels.telegram.base_url): {self.scrub(str(error))}"
                ) from None
        else:
            await self._set_webhook()
        self._running, self._waiting = True, None
        self.up.set()
        log.info("Telegram bot @%s is up (%s)", self.application.bot.username, self.mode)

    async def _up_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.up.wait(), timeout=seconds)
        return self._running

    async def _keep_coming_up(self) -> None:
        delays = self.start_backoff.delays()
        while not self._stopping.is_set():
            await wait_or_stop(self._stopping, next(delays))
            if self._stopping.is_set():
                return
            try:
                await self._come_up(bootstrap_retries=0)  # retried here instead
                return
            except TelegramUnreachable as error:
                self._waiting = str(error)
                log.debug("%s; trying again", error)  # said once, at start
            except ConfigError as error:
                self._waiting = str(error)
                log.error("Telegram channel stopped: %s", error)
                return

    async def _initialize(self) -> None:
        """Check the token (getMe) and open PTB's HTTP client; idempotent."""
        try:
            await self._initialize_or_close()
        except InvalidToken as error:  # 401 for a refused token, 404 for a wrong URL too
            raise ConfigError(
                f"TELEGRAM_BOT_TOKEN was refused by Telegram ({self.scrub(str(error))}); "
                "copy it again from @BotFather, and check channels.telegram.base_url "
                f"({self.base_url}): the token is appended to it, so it normally ends in /bot"
            ) from None
        except TelegramBadRequest as error:
            raise ConfigError(
                f"Telegram refused the bot at {self.base_url} "
                f"(channels.telegram.base_url): {self.scrub(str(error))}"
            ) from None
        except NetworkError as error:
            raise TelegramUnreachable(
                f"Telegram cannot be reached at {self.base_url} "
                f"(channels.telegram.base_url): {self.scrub(str(error))}"
            ) from None
        except TelegramError as error:
            raise ConfigError(
                f"Telegram answered the bot at {self.base_url} with an error "
                f"(channels.telegram.base_url): {self.scrub(str(error))}"
            ) from None

    async def _initialize_or_close(self) -> None:
        try:
            await self.application.initialize()
        except BaseException:
            # getMe failed after PTB opened its HTTP clients: close them again.
            await self.application.bot.shutdown()
            raise

    async def _start_polling(self, bootstrap_retries: int = 3) -> None:
        updater = self.application.updater
        assert updater is not None
        # start_polling deletes any webhook first, so a leftover one cannot block polling.
        await updater.start_polling(
            timeout=timedelta(seconds=self.poll_timeout),
            allowed_updates=list(ALLOWED_UPDATES),
            bootstrap_retries=bootstrap_retries,
            error_callback=self._on_polling_error,
        )

    async def _set_webhook(self) -> None:
        bot = self.application.bot
        try:
            await self.sender.call(
                lambda: bot.set_webhook(
                    self.public_url,
                    secret_token=self._secret,
                    allowed_updates=list(ALLOWED_UPDATES),
                )
            )
        except Unreachable as error:
            raise TelegramUnreachable(
                f"Telegram could not be asked to set the webhook {self.public_url}: {error}"
            ) from None
        except SendError as error:
            raise ConfigError(
                f"Telegram refused the webhook {self.public_url} "
                f"(channels.telegram.public_url): {error}"
            ) from None

    def _on_polling_error(self, error: TelegramError) -> None:
        self._outage.failed(self.scrub(str(error)))

    async def _on_handler_error(self, update: object, context: CallbackContext) -> None:
        update_id = update.update_id if isinstance(update, Update) else "?"
        error = context.error
        log.error(
            "Telegram update %s could not be handled: %s",
            update_id,
            self.scrub(f"{type(error).__name__}: {error}"),
            exc_info=error,
        )

    # --- Receiving ---------------------------------------------------------------------

    async def verify(self, request: web.Request, body: bytes) -> None:
        given = request.headers.get(SECRET_HEADER, "")
        if not self._secret or not hmac.compare_digest(given.encode(), self._secret.encode()):
            raise Forged("wrong or missing secret token")

    async def parse(self, request: web.Request, body: bytes) -> Parsed:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise Malformed("the body is not JSON") from None
        if not self._running and not await self._up_within(self.coming_up_seconds):
            raise NotReady("not ready")  # still coming up: Telegram sends the update again
        update = parse_update(data, self.application.bot)
        if update is None:
            raise Malformed("the body is not a Telegram update")
        # An update may be a message, a press, a block or media: `process` sorts it.
        # Its JSON as received, kept with the message in case handling it fails.
        return Parsed(events=((update, body.decode("utf-8", errors="replace")),))

    async def settle(self, parsed: Parsed) -> Sequence[Owed]:
        for update, raw in cast(tuple[tuple[Update, str], ...], parsed.events):
            await self.process(update, raw)
        return ()

    async def _on_polled_update(self, update: Update, _context: CallbackContext) -> None:
        if self._stopping.is_set() and self._paused:
            log.error(
                "Telegram update %s not applied: stopping while the store is down", update.update_id
            )
            return
        try:
            await until_stored(
                lambda: self.process(update),
                stopping=self._stopping,
                backoff=self.store_backoff,
                on_first_failure=self._pause_polling,
            )
        except StoreUnavailable:
            log.error(
                "Telegram update %s not applied: Chorus stopped while the store was down",
                update.update_id,
            )
        finally:
            await self._resume_polling()

    async def _pause_polling(self) -> None:
        updater = self.application.updater
        if updater is not None and updater.running:
            log.warning("store unavailable: Telegram polling paused until it is back")
            self._paused = True
            await updater.stop()

    async def _resume_polling(self) -> None:
        """Start polling again; keep trying (Telegram may be unreachable for a while),
        since no update can arrive to trigger another attempt."""
        delays = self.store_backoff.delays()
        while self._paused and not self._stopping.is_set():
            try:
                await self._start_polling(bootstrap_retries=0)  # retried here instead
            except TelegramError as error:
                delay = next(delays)
                log.warning(
                    "Telegram polling not resumed (%s); trying again in %.1f s",
                    self.scrub(str(error)),
                    delay,
                )
                await wait_or_stop(self._stopping, delay)
                continue
            self._paused = False
            log.info("store is back: Telegram polling resumed")

    async def process(self, update: Update, raw: str | None = None) -> None:
        """Apply one update and schedule its replies (`raw`: its JSON as received, for a
        webhook's). Raises StoreUnavailable when the store cannot commit (nothing was
        applied)."""
        incoming = classify(update, raw)
        operations: list[Operation] = []
        if incoming.action is Action.HANDLE:
            assert incoming.inbound is not None
            outcome = await self.hand_to_engine(incoming.inbound)
            if not (outcome.duplicate or outcome.opted_out):
                operations = plan(outcome.replies, pressed_message_id=incoming.pressed_message_id)
        elif incoming.action is Action.ASK_FOR_TEXT:
            if await self.services.engine.claim_once(CHANNEL, str(incoming.update_id)):
                operations = [SendText(self._catalogue(incoming).text("send_text"))]
        elif incoming.action is Action.PRIVATE_ONLY:
            # Nothing from a group is stored, so replays are caught in memory only.
            if self._first_time_in_group(incoming.update_id):
                operations = [self._private_only_note(incoming)]
        elif incoming.action in (Action.BLOCKED, Action.UNBLOCKED):
            assert incoming.sender is not None
            reachable = incoming.action is Action.UNBLOCKED
            if await self.services.engine.set_reachable(CHANNEL, incoming.sender, reachable):
                log.info(
                    "a Telegram participant %s the bot", "unblocked" if reachable else "blocked"
                )
        else:
            log.info("Telegram update %s acknowledged: %s", incoming.update_id, incoming.reason)
        if incoming.callback_query_id is not None:
            operations.insert(0, AnswerPress(incoming.callback_query_id))
        if operations:
            self._send_later(incoming, operations)

    def _first_time_in_group(self, update_id: int) -> bool:
        if update_id in self._group_updates:
            return False
        self._group_updates[update_id] = None
        if len(self._group_updates) > GROUP_MEMORY:
            self._group_updates.popitem(last=False)
        return True

    def _catalogue(self, incoming: Incoming) -> Catalogue:
        language = (incoming.language or "").split("-")[0].lower()
        return Catalogue(language if language in self._languages else None)

    def _private_only_note(self, incoming: Incoming) -> SendText:
        catalogue = self._catalogue(incoming)
        url = f"https://t.me/{self.application.bot.username}"
        return SendText(
            catalogue.text("private_only"),
            link_keyboard(catalogue.text("private_only_button"), url),
            reply_to=incoming.reply_to,
        )

    # --- Sending -----------------------------------------------------------------------

    def _send_later(self, incoming: Incoming, operations: list[Operation]) -> None:
        sending = self._send(incoming.chat_id or 0, operations, incoming.sender)
        self.sends.later(sending, name=f"telegram-send-{incoming.update_id}")

    async def drained(self) -> None:
        await self.sends.drained()

    async def _send(self, chat_id: int, pending: list[Operation], sender: str | None) -> None:
        address = sender or str(chat_id)
        unsent = self.sends.unsent(address, lambda: map(plain_text, pending))
        lock = self.sends.lock(chat_id)
        await unsent.before_waiting_for(lock, provider_down=self.sender.outage.waiting is not None)
        async with lock:
            try:
                await self.sender.perform_patiently(chat_id, pending, on_outage=unsent.waiting)
            except ContactStopped:
                pending.clear()
                await self.sends.mark_unreachable(address)
            except Exception:
                log.exception("sending Telegram replies failed")
            finally:  # sent; or still waiting for Telegram when stopped, or cut off
                await unsent.settle(stopping=self._stopping.is_set())

    async def deliver(self, address: str, replies: Sequence[Reply]) -> None:
        """Send replies outside a conversation (follow-ups, results of team jobs, retried
        messages). `address` is the chat id; raises the typed SendErrors."""
        try:
            chat_id = int(address)
        except ValueError:
            raise BadRequest(f"{address!r} is not a Telegram chat id") from None
        await self._initialize()
        async with self.sends.lock(chat_id):
            try:
                await self.sender.perform_all(chat_id, plan(replies))
            except ContactStopped:
                await self.sends.mark_unreachable(address)
                raise
