"""A fake WhatsApp Cloud API (Meta's Graph API) on a random local port, and the webhook
payloads Meta posts, for tests and benchmarks.

The fake serves `POST /{version}/{phone_number_id}/messages`: it checks the Bearer token
and `messaging_product`, checks each message against WhatsApp's limits (1–3 reply buttons
with titles up to 20 characters, lists of up to 10 rows with titles up to 24 and a button
text up to 20, bodies up to 1,024 characters for interactive messages and 4,096 for
text), answers with a wamid, and records what it accepted. Failures can be queued (an HTTP
status with a Graph error code).

The payload builders follow Meta's documented webhook shapes; `signature` computes
X-Hub-Signature-256 as Meta does (HMAC-SHA256 of the raw body, keyed with the app secret).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes import html_error

_ids = itertools.count(1)


def new_wamid() -> str:
    return f"wamid.HBgM{next(_ids):024d}"


# --- What Meta posts to the webhook ----------------------------------------------------


def signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def envelope(
    phone_number_id: str,
    *,
    messages: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    contacts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
    }
    if contacts is not None:
        value["contacts"] = contacts
    if messages is not None:
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def _message(wa_id: str, kind: str, wamid: str | None, **content: Any) -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": wamid or new_wamid(),
        "timestamp": str(int(time.time())),
        "type": kind,
        **content,
    }


def text_message(wa_id: str, text: str, wamid: str | None = None) -> dict[str, Any]:
    return _message(wa_id, "text", wamid, text={"body": text})


def button_reply(wa_id: str, id_: str, title: str, wamid: str | None = None) -> dict[str, Any]:
    return _message(
        wa_id,
        "interactive",
        wamid,
        interactive={"type": "button_reply", "button_reply": {"id": id_, "title": title}},
    )


def list_reply(wa_id: str, id_: str, title: str, wamid: str | None = None) -> dict[str, Any]:
    return _message(
        wa_id,
        "interactive",
        wamid,
        interactive={"type": "list_reply", "list_reply": {"id": id_, "title": title}},
    )


def media_message(wa_id: str, kind: str, wamid: str | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {
        "image": {"image": {"id": "1479537139650973", "mime_type": "image/jpeg"}},
        "sticker": {"sticker": {"id": "1479537139650974", "mime_type": "image/webp"}},
        "location": {"location": {"latitude": 51.5, "longitude": -0.12}},
        "reaction": {"reaction": {"message_id": "wamid.x", "emoji": "\U0001f44d"}},
    }.get(kind, {kind: {"id": "1479537139650975"}})
    return _message(wa_id, kind, wamid, **content)


def status(
    recipient: str, state: str, wamid: str | None = None, code: int | None = None
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "id": wamid or new_wamid(),
        "status": state,
        "timestamp": str(int(time.time())),
        "recipient_id": recipient,
    }
    if code is not None:
        report["errors"] = [{"code": code, "title": "Message undeliverable"}]
    return report


# --- The Cloud API ----------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    to: str
    message: dict[str, Any]
    wamid: str

    @property
    def kind(self) -> str:
        return str(self.message["type"])

    @property
    def text(self) -> str:
        if self.kind == "text":
            return str(self.message["text"]["body"])
        if self.kind == "interactive":
            return str(self.message["interactive"]["body"]["text"])
        params = self.message["template"]["components"][0]["parameters"]
        return str(params[0]["text"])

    @property
    def options(self) -> list[tuple[str, str]]:
        """(title, id) of each button or list row."""
        if self.kind != "interactive":
            return []
        interactive = self.message["interactive"]
        if interactive["type"] == "button":
            return [
                (b["reply"]["title"], b["reply"]["id"]) for b in interactive["action"]["buttons"]
            ]
        rows = [row for s in interactive["action"]["sections"] for row in s["rows"]]
        return [(row["title"], row["id"]) for row in rows]


class Refused(Exception):
    pass


def check_message(request: dict[str, Any]) -> None:
    """WhatsApp's limits; raises Refused with what is wrong."""
    kind = request.get("type")
    if kind == "text":
        body = request["text"]["body"]
        if not 0 < len(body) <= 4096:
            raise Refused(f"text body of {len(body)} characters")
        return
    if kind == "template":
        if not request["template"].get("name") or "language" not in request["template"]:
            raise Refused("a template needs a name and a language")
        return
    if kind != "interactive":
        raise Refused(f"type {kind!r}")
    interactive = request["interactive"]
    body = interactive["body"]["text"]
    if not 0 < len(body) <= 1024:
        raise Refused(f"interactive body of {len(body)} characters")
    action = interactive["action"]
    if interactive["type"] == "button":
        buttons = action["buttons"]
        if not 1 <= len(buttons) <= 3:
            raise Refused(f"{len(buttons)} buttons")
        for button in buttons:
            if len(button["reply"]["title"]) > 20 or len(button["reply"]["id"]) > 256:
                raise Refused(f"button {button['reply']['title']!r} too long")
    elif interactive["type"] == "list":
        if len(action["button"]) > 20:
            raise Refused("list button text over 20 characters")
        rows = [row for section in action["sections"] for row in section["rows"]]
        if not 1 <= len(rows) <= 10:
            raise Refused(f"{len(rows)} rows")
        for row in rows:
            if len(row["title"]) > 24 or len(row["id"]) > 200:
                raise Refused(f"row {row['title']!r} too long")
            if len(row.get("description", "")) > 72:
                raise Refused("row description over 72 characters")
    else:
        raise Refused(f"interactive type {interactive['type']!r}")


class FakeGraphAPI:
    def __init__(self, token: str, phone_number_id: str, version: str = "v21.0") -> None:
        self.token = token
        self.phone_number_id = phone_number_id
        self.version = version
        self.sent: list[Sent] = []
        self.requests = 0
        self._answered = asyncio.Condition()
        self.refusals: list[str] = []
        self.failures: deque[tuple[int, int | None, bool]] = deque()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def __aenter__(self) -> FakeGraphAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(f"/{self.version}/{self.phone_number_id}/messages", self._messages)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(
        self, status: int, code: int | None = None, times: int = 1, *, html: bool = False
    ) -> None:
        """Answer the next `times` sends with this error (an HTML page with `html`)."""
        self.failures.extend([(status, code, html)] * times)

    async def wait_for_requests(self, count: int, within: float = 30.0) -> None:
        """Until `count` sends have been answered (whatever the answer was)."""
        async with asyncio.timeout(within), self._answered:
            await self._answered.wait_for(lambda: self.requests >= count)

    async def _count_request(self) -> None:
        async with self._answered:
            self.requests += 1
            self._answered.notify_all()

    def to(self, wa_id: str) -> list[Sent]:
        return [sent for sent in self.sent if sent.to == wa_id]

    async def _messages(self, request: web.Request) -> web.Response:
        await self._count_request()
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, 190, "Invalid OAuth access token")
        if self.failures:
            status_code, code, html = self.failures.popleft()
            if html:
                return html_error(status_code, "Bad Gateway")
            return _error(status_code, code, "queued failure")
        try:
            data = json.loads(await request.read())
            if data.get("messaging_product") != "whatsapp" or not data.get("to"):
                raise Refused("messaging_product must be whatsapp, and to must be set")
            check_message(data)
        except (Refused, KeyError, TypeError, ValueError) as error:
            self.refusals.append(str(error))
            return _error(400, 100, f"Invalid parameter: {error}")
        wamid = new_wamid()
        message = {k: v for k, v in data.items() if k not in ("messaging_product", "to")}
        self.sent.append(Sent(str(data["to"]), message, wamid))
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": data["to"], "wa_id": data["to"]}],
                "messages": [{"id": wamid}],
            }
        )


def _error(status_code: int, code: int | None, message: str) -> web.Response:
    body = {"error": {"message": message, "type": "OAuthException", "fbtrace_id": "AbC"}}
    if code is not None:
        body["error"]["code"] = code
    return web.json_response(body, status=status_code)
