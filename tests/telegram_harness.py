"""Running Chorus with its Telegram channel against the fake Bot API, for the tests.

`telegram_settings` points channels.telegram.base_url at the fake and sets the token and
webhook secret; `ChorusWithTelegram` serves Chorus's web app on a random port with a
Telegram channel tuned for tests (short back-off delays), and posts webhook updates.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from bot.channels import media, telegram
from bot.channels.telegram.channel import SECRET_HEADER, WEBHOOK_PATH, TelegramChannel
from bot.config import Settings
from bot.retry import Backoff
from bot.server import build_web_app
from bot.services import Services, open_services
from storage.database import Store
from tests.conftest import make_settings, with_environ
from tests.fakes.telegram_bot_api import FakeBotAPI, User, button_data

TOKEN = "7000000001:AAFakeTokenForChorusTests_0123456789"
WEBHOOK_SECRET = "chorus-test-webhook-secret_42"
PUBLIC_URL = "https://chorus.example/webhooks/telegram"
FAST = Backoff(0.05, 0.2, factor=2.0)

_user_ids = itertools.count(5_550_001)


def new_user_id() -> int:
    return next(_user_ids)


def telegram_settings(
    database_url: str, base_url: str, *, mode: str = "polling", **overrides: object
) -> Settings:
    channels = {
        "telegram": {
            "mode": mode,
            "base_url": base_url,
            "public_url": PUBLIC_URL if mode == "webhook" else None,
        }
    }
    settings = make_settings(database_url, channels=channels, **overrides)
    return with_environ(settings, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET)


class ChorusWithTelegram:
    def __init__(
        self, settings: Settings, *, store: Store | None = None, coming_up_seconds: float = 0.5
    ) -> None:
        self.settings = settings
        self.store = store
        self.coming_up_seconds = coming_up_seconds
        self.services: Services | None = None
        self.channel: TelegramChannel | None = None
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ChorusWithTelegram:
        self.services = await open_services(self.settings, store=self.store, channel_media=media())
        return await self._start()

    async def _start(self) -> ChorusWithTelegram:
        self.channel = TelegramChannel(
            self.services,
            token=TOKEN,
            settings=telegram.DECLARATION.settings_from(self.settings),
            webhook_secret=WEBHOOK_SECRET,
            store_backoff=FAST,
            start_backoff=FAST,
            send_backoff=Backoff(0.01, 0.05, factor=2.0),
            rate_limit_retries=1,
            poll_timeout=5,
            coming_up_seconds=self.coming_up_seconds,
        )
        self._runner = web.AppRunner(build_web_app(self.services, [self.channel]))
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._http = aiohttp.ClientSession()
        try:
            await self.channel.start()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *_exc) -> None:
        if self.channel is not None:
            await self.channel.stop()
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.services is not None:
            await self.services.close()

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}"

    async def post(
        self, update: object = None, *, secret: str | None = WEBHOOK_SECRET, body: bytes = b""
    ) -> int:
        """POST to the webhook as Telegram does; returns the status."""
        assert self._http is not None
        return await post_update(self._http, self.webhook_url, update, secret=secret, body=body)


async def post_update(
    http: aiohttp.ClientSession,
    url: str,
    update: object = None,
    *,
    secret: str | None = WEBHOOK_SECRET,
    body: bytes = b"",
) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    data = body or json.dumps(update).encode()
    async with http.post(url, data=data, headers=headers) as response:
        await response.read()
        return response.status


class TelegramPerson:
    """A Telegram user in a test: types text and presses buttons, then waits for the bot's
    answer to show up at the fake Bot API. `deliver` sends an update the way the mode
    under test receives it (getUpdates queue or webhook POST)."""

    def __init__(
        self,
        api: FakeBotAPI,
        user: User,
        deliver: Callable[[dict], Awaitable[None]],
    ) -> None:
        self.api = api
        self.user = user
        self.deliver = deliver

    @property
    def chat_id(self) -> int:
        return self.user.id

    def messages(self) -> list[dict]:
        return self.api.chat(self.chat_id)

    def last_text(self) -> str:
        messages = self.messages()
        return messages[-1].get("text", "") if messages else ""

    async def say(self, text: str, *, expect: str) -> dict:
        update = self.api.text_update(self.user, text)
        await self.deliver(update)
        await self.wait(expect)
        return update

    async def press(self, label: str, *, expect: str | None = None, edits: int = 0) -> dict:
        """Press a button on the newest message with buttons; wait until the newest
        message contains `expect`, or until this chat has seen `edits` edits."""
        message = self.api.last_with_buttons(self.chat_id)
        update = self.api.press_update(self.user, message, button_data(message, label))
        await self.deliver(update)
        if expect is not None:
            await self.wait(expect)
        if edits:
            await self.api.wait_for(lambda: len(self.edits()) >= edits)
        return update

    def edits(self) -> list:
        return [c for c in self.api.calls_of("editMessageText") if c.chat_id == self.chat_id]

    async def wait(self, expect: str) -> None:
        try:
            await self.api.wait_for(lambda: expect in self.last_text())
        except TimeoutError:
            raise AssertionError(
                f"waited for {expect!r}; the chat shows {self.last_text()!r}"
            ) from None
