"""The SMS channel: Twilio's Messaging webhook in, TwiML <Message> replies out, and
follow-ups through Twilio's REST Messages API.

What Twilio posts to POST /webhooks/sms (application/x-www-form-urlencoded, abridged):

    ToCountry=GB&SmsMessageSid=SM0123...&NumMedia=0&SmsSid=SM0123...&SmsStatus=received
    &Body=Physios+in+every+GP+surgery&FromCountry=GB&To=%2B447700900000&NumSegments=1
    &MessageSid=SM0123...&AccountSid=AC0123...&From=%2B447700900123&ApiVersion=2010-04-01

Twilio failing to answer a follow-up (a 5xx, an HTML page, no connection) is an outage,
reported once (bot/outages.py) and shown in /healthz; the outbox sends it again later.

The sender's number is used to answer inside this response and is otherwise reduced to the
pseudonym; it is kept (encrypted) only for someone who asked for news about their ideas.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence

import aiohttp
from aiohttp import web
from pydantic import Field
from twilio.twiml.messaging_response import MessagingResponse

from bot.channels.base import (
    BadRequest,
    ContactStopped,
    SendError,
    Throttled,
    Unreachable,
    json_answer,
)
from bot.channels.kit import Declaration, Handled, Malformed, Parsed, WebhookChannel
from bot.channels.sms_render import render_sms
from bot.channels.twilio_common import TwilioSecrets, TwilioWebhook, missing, twiml
from bot.outages import Outage
from bot.services import Services
from handlers.settings import Strict
from handlers.types import Inbound, Reply

log = logging.getLogger(__name__)

CHANNEL = "sms"
PATH = "/webhooks/sms"
SEND_TIMEOUT = aiohttp.ClientTimeout(total=15)
# Twilio error codes meaning the number cannot be reached: it replied STOP to our number
# (21610), or it is not a mobile number (21614).
STOPPED_CODES = frozenset({21610, 21614})


class SmsSettings(Strict):
    # The URL Twilio posts to, exactly as set on the number; signatures are checked against
    # it, because behind a proxy Chorus itself sees another URL.
    public_url: str | None = Field(default=None, pattern=r"^https?://")
    # Who follow-ups come from: the Twilio number (+447700900000) or a Messaging Service
    # (MG...); they also need TWILIO_ACCOUNT_SID.
    from_number: str | None = None
    api_base: str = "https://api.twilio.com"
    # Twilio answers STOP itself unless its opt-out handling is turned off; only then
    # should Chorus send a confirmation of its own.
    confirm_opt_out: bool = False


class SmsChannel(WebhookChannel):
    name = CHANNEL
    path = PATH

    def __init__(
        self,
        services: Services,
        http: aiohttp.ClientSession,
        *,
        auth_token: str,
        account_sid: str | None,
        settings: SmsSettings,
    ) -> None:
        super().__init__(services)
        self.http = http
        self.settings = settings
        self.webhook = TwilioWebhook(CHANNEL, auth_token, settings.public_url)
        self._auth = _basic_auth(account_sid, auth_token) if account_sid else None
        self._account_sid = account_sid
        self.outage = Outage(log, "Twilio sending (SMS)")

    def __repr__(self) -> str:
        return f"SmsChannel(public_url={self.settings.public_url!r})"

    async def verify(self, request: web.Request, body: bytes) -> None:
        self.webhook.checked_form(request, body)

    async def parse(self, request: web.Request, body: bytes) -> Parsed:
        form = self.webhook.form(request, body)
        status = form.get("MessageStatus") or form.get("SmsStatus") or "received"
        if "Body" not in form and status != "received":
            return Parsed(ignored=(f"a request that is not a message: message status {status}",))
        absent = missing(form, ("From", "Body", "MessageSid"))
        if absent:
            raise Malformed(f"missing {', '.join(absent)}")
        inbound = Inbound(
            channel=CHANNEL,
            sender=form["From"],
            message_id=form["MessageSid"],
            received_at=self.services.engine.clock(),
            text=form["Body"],
        )
        return Parsed(inbounds=(inbound,))

    def answer(
        self, request: web.Request, parsed: Parsed, handled: Sequence[Handled]
    ) -> web.StreamResponse:
        response = MessagingResponse()  # an empty <Response/> for a status report
        for item in handled:
            if not item.outcome.opted_out or self.settings.confirm_opt_out:
                for text in render_sms(item.outcome.replies):
                    response.message(text)
        return twiml(response)

    async def deliver(self, address: str, replies: Sequence[Reply]) -> None:
        if self._auth is None or not self.settings.from_number:
            raise BadRequest("SMS follow-ups need TWILIO_ACCOUNT_SID and channels.sms.from_number")
        for text in render_sms(replies):
            await self._send(address, text)

    async def _send(self, to: str, body: str) -> None:
        sender = self.settings.from_number or ""
        data = {"To": to, "Body": body}
        data["MessagingServiceSid" if sender.startswith("MG") else "From"] = sender
        url = (
            f"{self.settings.api_base.rstrip('/')}/2010-04-01/Accounts/"
            f"{self._account_sid}/Messages.json"
        )
        try:
            async with self.http.post(
                url, data=data, headers={"Authorization": self._auth or ""}, timeout=SEND_TIMEOUT
            ) as response:
                status = response.status
                details = await json_answer(response) if status >= 300 else {}
                retry_after = response.headers.get("Retry-After", "")
        except (TimeoutError, aiohttp.ClientError) as failure:
            reason = f"Twilio could not be reached ({type(failure).__name__})"
            self.outage.failed(reason)
            raise Unreachable(reason) from None
        refused = _send_error(status, details, retry_after) if status >= 300 else None
        if isinstance(refused, Unreachable):
            self.outage.failed(refused)
        else:
            self.outage.recovered()
        if refused is not None:
            raise refused

    def status(self) -> dict:
        status = {
            "running": True,
            **self.webhook_status(),
            "public_url": self.settings.public_url,
            "followups": self._auth is not None and bool(self.settings.from_number),
            "received": self.counts.messages,
        }
        if self.outage.waiting:
            status["waiting"] = self.outage.waiting
        return status


def _basic_auth(account_sid: str, auth_token: str) -> str:
    credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
    return f"Basic {credentials}"


def _send_error(status: int, details: dict | None, retry_after: str) -> SendError:
    """The typed error for a refused send (`details` is None when the answer was not
    JSON). Twilio's own message is left out: it names the phone number, and this text is
    stored with the outbox entry."""
    code = (details or {}).get("code")
    described = f"Twilio error {code} (HTTP {status})" if code else f"Twilio HTTP {status}"
    if details is None:
        described += ", and the answer was not JSON"
    if code in STOPPED_CODES:
        return ContactStopped(described)
    if status == 429:
        seconds = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else 60.0
        return Throttled(described, retry_after=seconds)
    if 400 <= status < 500:
        return BadRequest(described)
    return Unreachable(described) if status >= 500 else SendError(described)


def create(services: Services, http: aiohttp.ClientSession) -> SmsChannel | None:
    settings: SmsSettings = DECLARATION.settings_from(services.settings)
    secrets: TwilioSecrets = DECLARATION.secrets_from(services.settings)
    if secrets.auth_token is None:
        log.info(
            "SMS is off: set TWILIO_AUTH_TOKEN and point a Twilio number's messaging webhook "
            "at %s to turn it on",
            settings.public_url or PATH,
        )
        return None
    account_sid = secrets.account_sid.get_secret_value() if secrets.account_sid else None
    if not (account_sid and settings.from_number):
        log.info(
            "SMS follow-ups are off: set TWILIO_ACCOUNT_SID and channels.sms.from_number "
            "to send news about ideas"
        )
    return SmsChannel(
        services,
        http,
        auth_token=secrets.auth_token.get_secret_value(),
        account_sid=account_sid,
        settings=settings,
    )


DECLARATION = Declaration(
    name=CHANNEL,
    medium="sms",
    create=create,
    settings=SmsSettings,
    secrets=TwilioSecrets,
)
