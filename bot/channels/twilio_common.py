"""What the SMS and voice adapters share: the Twilio account's secrets from the
environment, reading the form Twilio posts, checking its X-Twilio-Signature against the
configured public URL, and answering in TwiML.

Both take the kit's shared webhook path (bot/channels/kit.py): a missing or wrong
signature is 403 and a malformed request 400, both before anything is stored; a store
that cannot commit is 503, so the gateway may retry; 200 with TwiML only after the
transaction has committed.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict
from pydantic import Field, SecretStr
from twilio.request_validator import SIGNATURE_HEADER, RequestValidator
from twilio.twiml import TwiML

from bot.channels.kit import Forged, Malformed
from bot.channels.secrets import ChannelSecrets

log = logging.getLogger(__name__)

FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 200  # Twilio sends a few dozen


class TwilioSecrets(ChannelSecrets):
    """TWILIO_AUTH_TOKEN turns on the SMS and voice webhooks and checks their signatures;
    with TWILIO_ACCOUNT_SID (and channels.sms.from_number) Chorus can send texts. Read from
    the environment."""

    auth_token: SecretStr | None = Field(default=None, alias="TWILIO_AUTH_TOKEN")
    account_sid: SecretStr | None = Field(default=None, alias="TWILIO_ACCOUNT_SID")


def without_query(url: str) -> str:
    return url.split("?", 1)[0]


def with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}" if query else url


class TwilioWebhook:
    """Reads and checks the requests of one Twilio webhook endpoint."""

    def __init__(self, channel: str, auth_token: str, public_url: str | None) -> None:
        self.channel = channel
        self.public_url = public_url
        self._validator = RequestValidator(auth_token)
        if public_url is None:
            log.warning(
                "channels.%s.public_url is not set: checking Twilio signatures against the "
                "URL Chorus sees, which fails behind a proxy; set it to the URL given to Twilio",
                channel,
            )

    def __repr__(self) -> str:  # the validator holds the auth token
        return f"TwilioWebhook({self.channel!r}, public_url={self.public_url!r})"

    def signed_url(self, request: web.Request) -> str:
        """The URL Twilio requested, as Twilio saw it: the public URL with this request's
        query string (the voice channel's own links carry one)."""
        base = self.public_url or str(request.url)
        return with_query(without_query(base), request.query_string)

    def checked_form(self, request: web.Request, body: bytes) -> MultiDict[str]:
        """The fields of `body`, once the signature holds; raises the kit's `Forged` or
        `Malformed`."""
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            raise Forged("missing X-Twilio-Signature")
        if request.content_type != FORM:
            raise Malformed(f"expected {FORM}")
        fields = read_form(body)
        if not self._signed(self.signed_url(request), fields, signature):
            raise Forged("the signature does not match")
        request[_CHECKED_FORM] = fields
        return fields

    def _signed(self, url: str, fields: MultiDict[str], signature: str) -> bool:
        """The library's check, the common case first: the signature of the URL as given,
        one HMAC. Only when that differs, `validate`, which computes two (the URL with its
        default port added, and with its port removed: either may be what Twilio signed)
        and accepts no URL the first would not."""
        expected = self._validator.compute_signature(url, fields)
        if hmac.compare_digest(_bytes(expected), _bytes(signature)):
            return True
        return bool(self._validator.validate(url, fields, signature))

    @staticmethod
    def form(request: web.Request, body: bytes) -> MultiDict[str]:
        """The fields `checked_form` read from this request, not parsed twice (or read
        now if it did not)."""
        checked = request.get(_CHECKED_FORM)
        return checked if checked is not None else read_form(body)


# Where checked_form keeps the fields it read, for the channel to parse them once.
_CHECKED_FORM = web.RequestKey("chorus.twilio_checked_form", MultiDict[str])


def _bytes(text: str) -> bytes:
    # compare_digest takes str only when ASCII; a forged header may be anything.
    return text.encode("utf-8", "surrogateescape")


def read_form(body: bytes) -> MultiDict[str]:
    """The fields of a form body; `Malformed` when it cannot be read."""
    try:
        return MultiDict(
            parse_qsl(
                body.decode("ascii"),
                keep_blank_values=True,
                encoding="utf-8",
                errors="strict",
                max_num_fields=MAX_FIELDS,
            )
        )
    except (UnicodeDecodeError, ValueError):
        raise Malformed("the form could not be read") from None


def missing(fields: MultiDict[str], names: Sequence[str]) -> list[str]:
    return [name for name in names if name not in fields]


def twiml(response: TwiML) -> web.Response:
    return web.Response(text=str(response), content_type="text/xml", charset="utf-8")
