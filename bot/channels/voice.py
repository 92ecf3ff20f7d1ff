"""The voice channel: a phone menu (IVR) on Twilio Programmable Voice, for people who
cannot read or type, or who call from a landline. The conversation itself is
handlers/flows/call.py; this module only speaks TwiML.

Twilio posts to POST /webhooks/voice when a call comes in, and then to the <Gather>
action this module names (the same path with ?turn=N) with what the caller pressed or
said. Samples (application/x-www-form-urlencoded, abridged):

    call:    CallSid=CA0123...&AccountSid=AC0123...&From=%2B447700900123
             &To=%2B441234567890&CallStatus=ringing&Direction=inbound&ApiVersion=2010-04-01
    keys:    ...&CallStatus=in-progress&Digits=1
    speech:  ...&CallStatus=in-progress&SpeechResult=More+physios+in+GP+surgeries
             &Confidence=0.91

Each answer is <Say> inside <Gather input="speech dtmf">, or <Say> then <Hangup>. The
message id of each request is CallSid:turn, so a replayed request is recognised and only
repeats the prompt.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace

import aiohttp
from aiohttp import web
from pydantic import Field
from twilio.twiml.voice_response import VoiceResponse

from bot.channels.kit import Declaration, Handled, Malformed, Parsed, WebhookChannel
from bot.channels.twilio_common import (
    TwilioSecrets,
    TwilioWebhook,
    missing,
    twiml,
    with_query,
    without_query,
)
from bot.services import Services
from handlers.flows import call
from handlers.settings import Strict
from handlers.types import Inbound, Outcome, Reply

log = logging.getLogger(__name__)

CHANNEL = "voice"
PATH = "/webhooks/voice"
# What Twilio puts in From when the caller hides their number (older accounts get the
# digits that spell the words). All such callers are told apart by their call instead.
WITHHELD = frozenset(
    {"", "anonymous", "restricted", "unknown", "unavailable", "private", "blocked",
     "+266696687", "+7378742833", "+8656696", "+2562533"}
)  # fmt: skip
# A status report for a call that is over, if one is sent to this URL: not a turn.
ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
_CALL_SID = re.compile(r"[A-Za-z0-9]{2,64}")
_MENU_HINTS = "one, two, three, eight, nine, yes, no, agree, disagree, skip, idea, vote"


class VoiceSettings(Strict):
    public_url: str | None = Field(default=None, pattern=r"^https?://")
    language: str = "en-GB"  # for <Say> and speech recognition
    voice: str | None = None  # a Twilio text-to-speech voice, e.g. Polly.Amy-Neural


class VoiceChannel(WebhookChannel):
    name = CHANNEL
    path = PATH

    def __init__(self, services: Services, *, auth_token: str, settings: VoiceSettings) -> None:
        super().__init__(services)
        self.settings = settings
        self.webhook = TwilioWebhook(CHANNEL, auth_token, settings.public_url)

    def __repr__(self) -> str:
        return f"VoiceChannel(public_url={self.settings.public_url!r})"

    async def verify(self, request: web.Request, body: bytes) -> None:
        self.webhook.checked_form(request, body)

    async def parse(self, request: web.Request, body: bytes) -> Parsed:
        form = self.webhook.form(request, body)
        if form.get("CallStatus") in ENDED:
            status = form["CallStatus"]
            return Parsed(ignored=(f"a request that is not a turn: call status {status}",))
        absent = missing(form, ("CallSid", "From"))
        if absent:
            raise Malformed(f"missing {', '.join(absent)}")
        turn = request.query.get("turn", "0")
        call_sid = form["CallSid"]
        if not turn.isdigit() or len(turn) > 6 or not _CALL_SID.fullmatch(call_sid):
            raise Malformed("bad CallSid or turn")
        text, payload = _what_was_said(form, int(turn))
        inbound = Inbound(
            channel=CHANNEL,
            sender=_caller(form),
            message_id=f"{call_sid}:{int(turn)}",
            received_at=self.services.engine.clock(),
            text=text,
            payload=payload,
        )
        return Parsed(inbounds=(inbound,))

    async def hand_to_engine(self, inbound: Inbound) -> Outcome:
        outcome = await super().hand_to_engine(inbound)
        if outcome.duplicate:
            # A request seen before: say the prompt again, and change nothing.
            again = f"{inbound.message_id}:again:{uuid.uuid4().hex}"
            repeat = replace(inbound, message_id=again, text="", payload=call.REPEAT)
            outcome = await super().hand_to_engine(repeat)
        return outcome

    def answer(
        self, request: web.Request, parsed: Parsed, handled: Sequence[Handled]
    ) -> web.StreamResponse:
        if not handled:  # a status report sent to this URL
            return twiml(VoiceResponse())
        turn = int(request.query.get("turn", "0"))
        next_url = with_query(self._base_url(request), f"turn={turn + 1}")
        return twiml(self.render(handled[-1].outcome.replies, next_url))

    def _base_url(self, request: web.Request) -> str:
        return self.settings.public_url or without_query(str(request.url))

    def render(self, replies: Sequence[Reply], next_url: str) -> VoiceResponse:
        response = VoiceResponse()
        voice = {"voice": self.settings.voice, "language": self.settings.language}
        text = " ".join(reply.text for reply in replies if reply.text)
        last = replies[-1].key if replies else ""
        if not replies or last in call.HANG_UP:
            if text:
                response.say(text, **voice)
            response.hangup()
            return response
        listening = last in call.LISTEN
        gather = response.gather(
            input="speech dtmf",
            action=next_url,
            method="POST",
            num_digits=1,  # one key answers a menu, and ends speech early when talking
            timeout=8 if listening else 6,
            speech_timeout="auto",
            language=self.settings.language,
            hints=None if listening else _MENU_HINTS,
            action_on_empty_result=True,
        )
        gather.say(text, **voice)
        # Only reached if the gateway ignores actionOnEmptyResult: counts as silence.
        response.redirect(next_url, method="POST")
        return response

    def status(self) -> dict:
        return {"running": True, **self.webhook_status(), "public_url": self.settings.public_url}


def _caller(form: Mapping[str, str]) -> str:
    number = form["From"].strip()
    if number.casefold() in WITHHELD:
        return f"withheld:{form['CallSid']}"
    return number


def _what_was_said(form: Mapping[str, str], turn: int) -> tuple[str, str | None]:
    """(text, payload) of a turn: the call's start, keys or words, or silence."""
    if turn == 0:
        return "", call.START
    for field in ("Digits", "SpeechResult"):
        value = form.get(field, "").strip()
        if value:
            return value, None
    return "", call.SILENCE


def create(services: Services, http: aiohttp.ClientSession) -> VoiceChannel | None:
    settings: VoiceSettings = DECLARATION.settings_from(services.settings)
    secrets: TwilioSecrets = DECLARATION.secrets_from(services.settings)
    if secrets.auth_token is None:
        log.info(
            "Voice calls are off: set TWILIO_AUTH_TOKEN and point a Twilio number's voice "
            "webhook at %s to turn them on",
            settings.public_url or PATH,
        )
        return None
    auth_token = secrets.auth_token.get_secret_value()
    return VoiceChannel(services, auth_token=auth_token, settings=settings)


DECLARATION = Declaration(
    name=CHANNEL,
    medium="call",
    create=create,
    settings=VoiceSettings,
    secrets=TwilioSecrets,
)
