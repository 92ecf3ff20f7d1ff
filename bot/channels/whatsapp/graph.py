"""Sending through the WhatsApp Cloud API (Meta's Graph API), with typed errors.

`POST {api_base}/{api_version}/{phone_number_id}/messages` with the access token as a
Bearer token. 429 and 5xx are tried again with growing delays (tenacity); what is left
becomes a typed error for the caller to judge: a 5xx or no answer is `Unreachable`, an
outage reported once (bot/outages.py) until the API answers again. Graph's own error
text is never kept (it can quote the number); the token is only ever in the
Authorization header.

A refusal looks like:

    {"error": {"message": "(#131047) Re-engagement message", "type": "OAuthException",
               "code": 131047, "error_data": {"details": "..."}, "fbtrace_id": "A1b2"}}
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from pydantic import SecretStr
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from bot.channels.base import (
    BadRequest,
    ContactStopped,
    SendError,
    Throttled,
    Unreachable,
    json_answer,
)
from bot.outages import Outage

log = logging.getLogger(__name__)

SEND_TIMEOUT = aiohttp.ClientTimeout(total=15)
OUTSIDE_WINDOW = 131047  # more than 24 hours since the person's last message
UNDELIVERABLE = 131026  # not on WhatsApp, an old app, or the person blocked the business


class OutsideWindow(BadRequest):
    """Free-form messages may be sent only within 24 hours of the person's last one."""

    code = OUTSIDE_WINDOW


class Undeliverable(ContactStopped):
    """WhatsApp cannot deliver to this number."""

    code = UNDELIVERABLE


class _TryAgain(SendError):
    """429 or 5xx: worth another attempt."""

    def __init__(self, message: str, status: int, retry_after: float) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class GraphClient:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        api_base: str,
        api_version: str,
        phone_number_id: str,
        access_token: SecretStr,
        attempts: int = 4,
        first_wait: float = 0.25,
        max_wait: float = 8.0,
    ) -> None:
        self.http = http
        self.url = f"{api_base}/{api_version}/{phone_number_id}/messages"
        self._token = access_token
        self.attempts = attempts
        self._exponential = wait_exponential(multiplier=first_wait, max=max_wait)
        self.max_wait = max_wait
        self.outage = Outage(log, "WhatsApp sending")

    def __repr__(self) -> str:
        return f"GraphClient({self.url!r})"

    def _wait(self, state: RetryCallState) -> float:
        """The growing delay, or longer when the Graph API said how long."""
        error = state.outcome.exception() if state.outcome else None
        asked = error.retry_after if isinstance(error, _TryAgain) else 0.0
        return max(self._exponential(state), min(asked, self.max_wait))

    async def send(self, to: str, message: dict[str, Any]) -> str:
        """Send one message; returns its wamid. Raises the typed SendErrors."""
        request = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
        request.update(message)
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_TryAgain),
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._post(request)
        except _TryAgain as error:
            if error.status == 429:
                raise Throttled(str(error), retry_after=max(error.retry_after, 60.0)) from None
            raise Unreachable(str(error)) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post(self, request: dict[str, Any]) -> str:
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}"}
        try:
            async with self.http.post(
                self.url, json=request, headers=headers, timeout=SEND_TIMEOUT
            ) as response:
                body = await json_answer(response)
                status = response.status
                retry_after = _seconds(response.headers.get("Retry-After", ""))
        except (TimeoutError, aiohttp.ClientError) as error:
            reason = f"the WhatsApp Cloud API could not be reached ({type(error).__name__})"
            self.outage.failed(reason)
            raise Unreachable(reason) from None
        if status >= 500:
            self.outage.failed(_described(status, body))
        else:
            self.outage.recovered()
        if status < 300:
            sent = (body or {}).get("messages")
            if isinstance(sent, list) and sent and isinstance(sent[0], dict):
                return str(sent[0].get("id", ""))
            return ""
        raise _error(status, body, retry_after)


def _code(body: dict[str, Any] | None) -> object:
    error = body.get("error") if body is not None else None
    return error.get("code") if isinstance(error, dict) else None


def _described(status: int, body: dict[str, Any] | None) -> str:
    code = _code(body)
    described = f"WhatsApp error {code} (HTTP {status})" if code else f"WhatsApp HTTP {status}"
    return described if body is not None else f"{described}, and the answer was not JSON"


def _error(status: int, body: dict[str, Any] | None, retry_after: float) -> SendError:
    code = _code(body)
    described = _described(status, body)
    if status == 429 or status >= 500:
        return _TryAgain(described, status, retry_after)
    if code == OUTSIDE_WINDOW:
        return OutsideWindow(described)
    if code == UNDELIVERABLE:
        return Undeliverable(described)
    return BadRequest(described)


def _seconds(value: str) -> float:
    try:
        return max(0.0, float(value))
    except ValueError:
        return 0.0
