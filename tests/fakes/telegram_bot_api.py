"""A fake Telegram Bot API on a random local port, for tests and benchmarks.

It serves the methods Chorus uses (getMe, deleteWebhook, setWebhook, getUpdates with a
long-poll timeout, sendMessage, editMessageText, editMessageReplyMarkup,
answerCallbackQuery, setMyCommands, sendPhoto, sendDocument), records every call, keeps
the messages the bot sent per chat, and lets a test act as Telegram users: type text,
press a button on a message, send a sticker, write in a group. Failures can be queued
per method (an HTTP error with a description, a RetryAfter, or a dropped connection).

Requests are parsed as python-telegram-bot sends them: form fields whose non-string
values are JSON-encoded, or multipart for uploads. Responses follow the Bot API
({"ok": true, "result": ...} or {"ok": false, "error_code", "description"}).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes import html_error

BOT_USER = {
    "id": 7000000001,
    "is_bot": True,
    "first_name": "Chorus",
    "username": "ChorusTestBot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}

# Form fields that are plain strings; everything else is JSON-encoded by the client.
STRING_FIELDS = {
    "text",
    "caption",
    "callback_query_id",
    "url",
    "secret_token",
    "language_code",
    "parse_mode",
    "inline_message_id",
}


@dataclass
class Call:
    method: str
    params: dict
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None = None
    drop_connection: bool = False
    html: bool = False  # answer with an HTML page, as a proxy in front of the API does


@dataclass(frozen=True)
class User:
    id: int
    first_name: str = "Test"
    language_code: str | None = "en"

    def as_dict(self) -> dict:
        data = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.language_code:
            data["language_code"] = self.language_code
        return data


class FakeBotAPI:
    def __init__(self, token: str, *, first_update_id: int = 500_000_001) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.messages: dict[int, dict[int, dict]] = defaultdict(dict)  # chat -> id -> message
        self.webhook: dict | None = None
        self._updates: list[dict] = []
        self._update_ids = itertools.count(first_update_id)
        self._message_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._failures: dict[str, list[Failure]] = defaultdict(list)
        self._held: set[str] = set()  # methods whose calls get no answer until released
        self._changed = asyncio.Condition()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- Server --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What Chorus's channels.telegram.base_url is set to (the token is appended)."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> FakeBotAPI:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        self._closing = True
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeBotAPI:
        return await self.start()

    async def __aexit__(self, *_exc) -> None:
        await self.close()

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params, files = await _read_params(request)
        if method in self._held:  # a provider that takes the call and never answers
            await self._record(Call(method, params, files))
            async with self._changed:
                await self._changed.wait_for(lambda: self._closing or method not in self._held)
            return html_error(502, "Bad Gateway")
        failures = self._failures.get(method)
        if failures:
            failure = failures.pop(0)
            await self._record(Call(method, params, files))
            if failure.drop_connection:
                assert request.transport is not None
                request.transport.close()
                return web.Response(status=500)
            if failure.html:
                return html_error(failure.status, failure.description)
            extra = (
                {"parameters": {"retry_after": failure.retry_after}} if failure.retry_after else {}
            )
            return _error(failure.status, failure.description, **extra)
        handler = getattr(self, f"_{method}", None)
        if handler is None:
            return _error(404, "Not Found")
        try:
            result = await handler(params, files)
        except KeyError as missing:
            await self._record(Call(method, params, files))
            return _error(400, f"Bad Request: not found: {missing}")
        await self._record(Call(method, params, files))  # after the effect, for waiters
        if isinstance(result, web.Response):  # a refusal the method itself decided
            return result
        return web.json_response({"ok": True, "result": result})

    async def _record(self, call: Call) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    # --- Bot API methods ---------------------------------------------------------------

    async def _getMe(self, _params, _files) -> dict:
        return BOT_USER

    async def _deleteWebhook(self, _params, _files) -> bool:
        self.webhook = None
        return True

    async def _setWebhook(self, params, _files) -> bool:
        self.webhook = params
        return True

    async def _setMyCommands(self, _params, _files) -> bool:
        return True

    async def _answerCallbackQuery(self, _params, _files) -> bool:
        return True

    async def _getUpdates(self, params, _files) -> list[dict] | web.Response:
        if self.webhook is not None:  # as Telegram answers
            return _error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        async with self._changed:
            if offset:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            deadline = time.monotonic() + timeout
            while not self._updates and not self._closing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    break
            return list(self._updates[:limit])

    async def _sendMessage(self, params, _files) -> dict:
        return self._new_message(params, text=params["text"])

    async def _sendPhoto(self, params, files) -> dict:
        name, content = files["photo"]
        photo = [{"file_id": f"p{len(content)}", "file_unique_id": "p", "width": 1, "height": 1}]
        return self._new_message(params, photo=photo, caption=params.get("caption"))

    async def _sendDocument(self, params, files) -> dict:
        name, content = files["document"]
        document = {"file_id": f"doc-{len(content)}", "file_unique_id": "d", "file_name": name}
        return self._new_message(params, document=document, caption=params.get("caption"))

    async def _editMessageText(self, params, _files) -> dict:
        message = self.messages[int(params["chat_id"])][int(params["message_id"])]
        message["text"] = params["text"]
        message["reply_markup"] = params.get("reply_markup")
        message["edit_date"] = int(time.time())
        return _without_none(message)

    async def _editMessageReplyMarkup(self, params, _files) -> dict:
        message = self.messages[int(params["chat_id"])][int(params["message_id"])]
        message["reply_markup"] = params.get("reply_markup")
        return _without_none(message)

    def _new_message(self, params: dict, **content) -> dict:
        chat_id = int(params["chat_id"])
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": BOT_USER,
            "reply_markup": params.get("reply_markup"),
            **content,
        }
        self.messages[chat_id][message["message_id"]] = message
        return _without_none(message)

    # --- Acting as Telegram users ------------------------------------------------------

    def hold(self, method: str) -> None:
        """Take calls of `method` and answer none of them (until `release` or closing)."""
        self._held.add(method)

    async def release(self, method: str) -> None:
        self._held.discard(method)
        async with self._changed:
            self._changed.notify_all()

    def fail(
        self,
        method: str,
        status: int = 400,
        description: str = "Bad Request",
        *,
        retry_after: int | None = None,
        drop_connection: bool = False,
        times: int = 1,
        html: bool = False,
    ) -> None:
        """Answer the next `times` calls of `method` with this failure."""
        failure = Failure(status, description, retry_after, drop_connection, html)
        self._failures[method].extend([failure] * times)

    def recover(self, method: str) -> None:
        """Answer `method` properly again, whatever failures were still queued."""
        self._failures.pop(method, None)

    def bot_message(self, chat_id: int, text: str) -> dict:
        """A message as if the bot had sent it earlier (something to press a button on)."""
        return self._new_message({"chat_id": chat_id}, text=text)

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def text_update(self, user: User, text: str, *, chat: dict | None = None) -> dict:
        return self.message_update(user, {"text": text}, chat=chat)

    def message_update(self, user: User, content: dict, *, chat: dict | None = None) -> dict:
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "from": user.as_dict(),
            "chat": chat or {"id": user.id, "type": "private", "first_name": user.first_name},
            **content,
        }
        return {"update_id": self.next_update_id(), "message": message}

    def press_update(self, user: User, message: dict, data: str) -> dict:
        return {
            "update_id": self.next_update_id(),
            "callback_query": {
                "id": str(next(self._query_ids)),
                "from": user.as_dict(),
                "chat_instance": str(user.id),
                "message": _without_none(message),
                "data": data,
            },
        }

    def blocked_update(self, user: User, *, blocked: bool = True) -> dict:
        status = {"status": "kicked", "until_date": 0} if blocked else {"status": "member"}
        return {
            "update_id": self.next_update_id(),
            "my_chat_member": {
                "chat": {"id": user.id, "type": "private", "first_name": user.first_name},
                "from": user.as_dict(),
                "date": int(time.time()),
                "old_chat_member": {"user": BOT_USER, "status": "member"},
                "new_chat_member": {"user": BOT_USER, **status},
            },
        }

    async def push(self, update: dict) -> dict:
        """Queue an update for getUpdates (polling mode)."""
        async with self._changed:
            self._updates.append(update)
            self._changed.notify_all()
        return update

    async def say(self, user: User, text: str) -> dict:
        return await self.push(self.text_update(user, text))

    async def press(self, user: User, label: str, message: dict | None = None) -> dict:
        """Press the button labelled `label` (or whose label contains it) on `message`,
        by default the newest message in the user's chat that has buttons."""
        message = message or self.last_with_buttons(user.id)
        return await self.push(self.press_update(user, message, button_data(message, label)))

    # --- What the bot did --------------------------------------------------------------

    def calls_of(self, *methods: str) -> list[Call]:
        return [call for call in self.calls if call.method in methods]

    def chat(self, chat_id: int) -> list[dict]:
        """The bot's messages in a chat, oldest first, as they look now (after edits)."""
        return [self.messages[chat_id][key] for key in sorted(self.messages[chat_id])]

    def last_with_buttons(self, chat_id: int) -> dict:
        for message in reversed(self.chat(chat_id)):
            if keyboard_rows(message):
                return message
        raise AssertionError(f"no message with buttons in chat {chat_id}")

    async def wait_for(self, condition: Callable[[], object], within: float = 15.0) -> object:
        """Wait until `condition()` is true (checked after every recorded call)."""
        async with self._changed:
            result = await asyncio.wait_for(self._changed.wait_for(condition), within)
        return result

    async def wait_for_calls(self, method: str, count: int, within: float = 15.0) -> list[Call]:
        await self.wait_for(lambda: len(self.calls_of(method)) >= count, within)
        return self.calls_of(method)


def keyboard_rows(message: dict) -> list[list[dict]]:
    markup = message.get("reply_markup") or {}
    return markup.get("inline_keyboard") or []


def button_labels(message: dict) -> list[str]:
    return [button["text"] for row in keyboard_rows(message) for button in row]


def button_data(message: dict, label: str) -> str:
    buttons = [button for row in keyboard_rows(message) for button in row]
    exact = [b for b in buttons if b["text"] == label]
    found = exact or [b for b in buttons if label.lower() in b["text"].lower()]
    if not found:
        raise AssertionError(f"no button {label!r} in {[b['text'] for b in buttons]}")
    return found[0]["callback_data"]


def _without_none(data: dict) -> dict:
    return {key: value for key, value in data.items() if value is not None}


def _error(status: int, description: str, **extra) -> web.Response:
    body = {"ok": False, "error_code": status, "description": description, **extra}
    return web.json_response(body, status=status)


async def _read_params(request: web.Request) -> tuple[dict, dict[str, tuple[str, bytes]]]:
    if request.content_type == "application/json":
        return await request.json(), {}
    params: dict = {}
    files: dict[str, tuple[str, bytes]] = {}
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            files[key] = (value.filename, value.file.read())
        elif key in STRING_FIELDS:
            params[key] = value
        else:
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value
    return params, files
