"""The WhatsApp adapter: Meta's webhook in, Cloud API messages out.

`GET /webhooks/whatsapp` answers Meta's verification handshake. `POST /webhooks/whatsapp`
takes the shared webhook path (bot/channels/kit.py) after checking `X-Hub-Signature-256`
against the app secret. Replies are sent after the commit, in order for each person;
while the Cloud API fails they wait, and go once it answers again (or from the outbox
after a restart, bot/channels/unsent_replies.py).
Follow-ups (`deliver`) go as free-form messages within 24 hours of the person's last
message, and otherwise as the approved template in `channels.whatsapp.followup_template`,
or not at all.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web

from bot.channels.base import SendError, Unreachable
from bot.channels.chat_sends import ChatSends
from bot.channels.kit import Forged, Handled, Owed, Parsed, WebhookChannel
from bot.channels.whatsapp.graph import GraphClient, OutsideWindow, Undeliverable
from bot.channels.whatsapp.payload import CHANNEL, AskForText, StatusReport, parse_payload
from bot.channels.whatsapp.render import INTERACTIVE_BODY_LIMIT, plain_text, render, shorten
from bot.channels.whatsapp.settings import WhatsAppSecrets, WhatsAppSettings
from bot.retry import Backoff, patiently
from bot.services import Services
from handlers.catalogue import Catalogue
from handlers.types import Reply

log = logging.getLogger(__name__)

PATH = "/webhooks/whatsapp"
SIGNATURE_HEADER = "X-Hub-Signature-256"
WINDOW = timedelta(hours=24)


class WhatsAppChannel(WebhookChannel):
    name = CHANNEL
    path = PATH

    def __init__(
        self,
        services: Services,
        http: aiohttp.ClientSession,
        *,
        settings: WhatsAppSettings,
        secrets: WhatsAppSecrets,
        first_wait: float = 0.25,
    ) -> None:
        super().__init__(services)
        assert settings.phone_number_id and secrets.access_token
        assert secrets.app_secret and secrets.verify_token
        self.settings = settings
        self.graph = GraphClient(
            http,
            api_base=settings.api_base,
            api_version=settings.api_version,
            phone_number_id=settings.phone_number_id,
            access_token=secrets.access_token,
            first_wait=first_wait,
        )
        self._app_secret = secrets.app_secret.get_secret_value().encode()
        self._verify_token = secrets.verify_token.get_secret_value().encode()
        self.statuses: Counter[str] = Counter()
        self.sent = 0
        self.sends = ChatSends(services, CHANNEL)
        self._said_no_template = False
        self._stopping = asyncio.Event()
        self._outage_backoff = Backoff(first_wait, 60.0)

    def __repr__(self) -> str:
        return f"WhatsAppChannel(phone_number_id={self.settings.phone_number_id!r})"

    # --- Receiving ---------------------------------------------------------------------

    def extra_routes(self) -> Sequence[web.RouteDef]:
        return [web.get(PATH, self.handshake)]

    async def handshake(self, request: web.Request) -> web.Response:
        """Meta's check when the webhook URL is saved: echo hub.challenge if the verify
        token matches."""
        mode = request.query.get("hub.mode", "")
        token = request.query.get("hub.verify_token", "").encode()
        challenge = request.query.get("hub.challenge", "")
        if mode == "subscribe" and hmac.compare_digest(token, self._verify_token):
            log.info("WhatsApp webhook verified")
            return web.Response(text=challenge, content_type="text/plain")
        log.warning("refused a WhatsApp webhook verification (wrong mode or verify token)")
        return web.Response(status=403, text="verification failed\n")

    async def verify(self, request: web.Request, body: bytes) -> None:
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not given.startswith("sha256="):
            raise Forged(f"missing {SIGNATURE_HEADER}")
        expected = hmac.new(self._app_secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given[len("sha256=") :].encode(), expected.encode()):
            raise Forged(f"{SIGNATURE_HEADER} does not match the body")

    async def parse(self, request: web.Request, body: bytes) -> Parsed:
        return parse_payload(body, self.services.engine.clock(), self.settings.phone_number_id)

    async def settle(self, parsed: Parsed) -> Sequence[Owed]:
        owed: list[Owed] = []
        engine = self.services.engine
        for event in parsed.events:
            if isinstance(event, AskForText):
                log.info("a WhatsApp %s message: asking for text", event.kind)
                if await engine.claim_once(CHANNEL, event.message_id):
                    text = Catalogue().text("send_text")
                    owed.append(Owed(event.sender, (Reply(text, key="send_text"),)))
            elif isinstance(event, StatusReport):
                self.statuses[event.status] += 1
                if event.status == "failed":
                    await self._on_failed(event)
        return owed

    async def _on_failed(self, report: StatusReport) -> None:
        if Undeliverable.code in report.error_codes:
            if await self.services.engine.set_reachable(CHANNEL, report.recipient, False):
                log.info("a WhatsApp participant cannot be reached; marked unreachable")
        else:
            log.warning("a WhatsApp message was not delivered (codes %s)", report.error_codes)

    async def after_commit(self, handled: Sequence[Handled], owed: Sequence[Owed]) -> None:
        for item in handled:
            outcome = item.outcome
            if outcome.replies and not (outcome.duplicate or outcome.opted_out):
                self._send_later(item.inbound.sender, render(outcome.replies))
        for debt in owed:
            self._send_later(debt.address, render(debt.replies))

    # --- Sending -----------------------------------------------------------------------

    def _send_later(self, to: str, messages: list[dict[str, Any]]) -> None:
        self.sends.later(self._send_replies(to, messages), name="whatsapp-send")

    async def _send_replies(self, to: str, pending: list[dict[str, Any]]) -> None:
        unsent = self.sends.unsent(to, lambda: map(plain_text, pending))
        try:
            down = self.graph.outage.waiting is not None
            await unsent.before_waiting_for(self.sends.lock(to), provider_down=down)
            await self._send_all(to, pending, on_outage=unsent.waiting)
        except Undeliverable:
            pending.clear()
            await self.sends.mark_unreachable(to)
        except SendError as error:
            pending.clear()
            log.warning("a WhatsApp reply was not sent: %s", error)
        except Exception:
            log.exception("sending WhatsApp replies failed")
        finally:  # sent; or still waiting for the API when stopped, or cut off
            await unsent.settle(stopping=self._stopping.is_set())

    async def _send_all(
        self,
        to: str,
        pending: list[dict[str, Any]],
        *,
        on_outage: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Send the `pending` messages in order, removing each from the list once sent.
        With `on_outage` each waits while the API is down, until it answers again or
        Chorus stops (what is left in `pending` then was not sent), and `on_outage` runs
        at each failed try meanwhile."""
        async with self.sends.lock(to):
            while pending:
                if on_outage is not None:
                    try:
                        await patiently(
                            partial(self.graph.send, to, pending[0]),
                            when=lambda error: isinstance(error, Unreachable),
                            stopping=self._stopping,
                            backoff=self._outage_backoff,
                            on_failure=lambda _error, _attempt, _delay: on_outage(),
                        )
                    except Unreachable:  # only once stopping: until then it waits
                        return
                else:
                    await self.graph.send(to, pending[0])
                del pending[0]
                self.sent += 1

    async def deliver(self, address: str, replies: Sequence[Reply]) -> None:
        """A follow-up: free-form within 24 hours of the person's last message, else the
        approved template, else not sent (OutsideWindow, logged once)."""
        last_seen, language = await self._last_seen(address)
        now = self.services.engine.clock()
        if last_seen is not None and now - last_seen < WINDOW:
            await self._send_all(address, render(replies))
            return
        template = self.settings.followup_template
        if template is None:
            if not self._said_no_template:
                self._said_no_template = True
                log.warning(
                    "WhatsApp follow-ups to people who last wrote over 24 hours ago are not "
                    "sent: set channels.whatsapp.followup_template to an approved template"
                )
            raise OutsideWindow("outside the 24-hour window and no followup_template set")
        await self._send_all(
            address, [template_message(template, language, reply.text) for reply in replies]
        )

    async def _last_seen(self, address: str) -> tuple[datetime | None, str]:
        pseudonym = self.services.engine.pseudonym(CHANNEL, address)
        async with self.services.store.reader() as unit:
            person = await unit.participants.find(pseudonym)
        if person is None:
            return None, "en"
        return person.last_seen_at, person.language or "en"

    # --- Lifecycle ---------------------------------------------------------------------

    async def stop(self) -> None:
        self._stopping.set()
        await self.sends.drained()

    async def drained(self) -> None:
        """Wait until every reply scheduled so far has been sent (or given up)."""
        await self.sends.drained()

    def status(self) -> dict[str, object]:
        status: dict[str, object] = {
            "running": True,
            **self.webhook_status(),
            "sent": self.sent,
            "statuses": dict(self.statuses),
            "followup_template": self.settings.followup_template,
        }
        if self.graph.outage.waiting:
            status["waiting"] = self.graph.outage.waiting
        return status


def template_message(name: str, language: str, text: str) -> dict[str, Any]:
    """An approved template with the follow-up's text as its one body parameter."""
    return {
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": language},
            "components": [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": shorten(text, INTERACTIVE_BODY_LIMIT)}],
                }
            ],
        },
    }
