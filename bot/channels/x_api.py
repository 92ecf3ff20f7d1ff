"""The X API v2 through tweepy's asynchronous clients, with X's answers turned into a
few errors the listener acts on.

tweepy 4.17 hard-codes https://api.twitter.com in AsyncClient and AsyncStreamingClient;
their public `session` attribute is the seam: `ApiSession` is handed to them in place of
an aiohttp session and sends their requests over Chorus's one shared session to
`channels.twitter.api_base` (a local fake in tests).

Errors, and what the listener does with them:
    Unauthorized   401: the token is wrong or revoked; the listener stops.
    AccessDenied   403: not allowed; `tier` when X says the access level does not include
                   the endpoint ("client-not-enrolled"): auto mode falls back to polling.
    RateLimited    429: wait until `reset_at` (x-rate-limit-reset, epoch seconds).
    Rejected       400 and other refusals that retrying will not fix.
    Unavailable    5xx, timeouts, broken connections, unreadable answers: retry later.
The bearer token never appears in these errors or in any log line: tweepy logs request
headers at DEBUG, so its logger is kept at INFO.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import aiohttp
import tweepy.errors
from tweepy.asynchronous import AsyncClient, AsyncStreamingClient
from tweepy.streaming import StreamRule

from bot.channels.x_posts import REQUEST_FIELDS

log = logging.getLogger(__name__)

# Where tweepy sends requests (4.17: api.twitter.com; X's newer name is accepted too).
TWEEPY_BASES = ("https://api.twitter.com", "https://api.x.com")
PAGE_SIZE = 100  # the most X returns per search page or lookup
TIER_REASONS = {"client-not-enrolled"}


class ListenerStopped(Exception):
    """A fault retrying will not fix (e.g. a refused token); the listener stops and
    says why, once."""


class XError(Exception):
    """An X API call failed; the message is safe to log (no token)."""


class Unauthorized(XError):
    pass


class AccessDenied(XError):
    def __init__(self, message: str, *, tier: bool) -> None:
        super().__init__(message)
        self.tier = tier


class RateLimited(XError):
    def __init__(self, message: str, reset_at: float | None) -> None:
        super().__init__(message)
        self.reset_at = reset_at


class Rejected(XError):
    pass


class Unavailable(XError):
    pass


class ApiSession:
    """What tweepy's clients get as their `session`: each request goes over the shared
    aiohttp session to `api_base` instead of api.twitter.com, with this session's
    timeout. The last response is kept so the stream can read an error answer."""

    def __init__(self, http: aiohttp.ClientSession, api_base: str, timeout: aiohttp.ClientTimeout):
        self._http = http
        self._base = api_base.rstrip("/")
        self._timeout = timeout
        self.headers: dict[str, str] = {}  # tweepy's stream sets its User-Agent here
        self.last_response: aiohttp.ClientResponse | None = None

    @property
    def closed(self) -> bool:
        # Never "closed": tweepy's stream would otherwise open its own session, to the
        # real api.twitter.com. The runtime owns and closes the shared session.
        return False

    def url(self, url: object) -> str:
        text = str(url)
        for base in TWEEPY_BASES:
            if text.startswith(base + "/"):
                return self._base + text[len(base) :]
        raise ValueError("tweepy asked for a URL outside the X API")

    @asynccontextmanager
    async def request(
        self, method: str, url: object, *, headers: dict | None = None, **kwargs: Any
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        kwargs.setdefault("timeout", self._timeout)
        async with self._http.request(
            method, self.url(url), headers={**self.headers, **(headers or {})}, **kwargs
        ) as response:
            self.last_response = response
            yield response

    async def close(self) -> None:
        """Nothing to close: the shared session belongs to the runtime."""


async def _body(response: object) -> dict:
    try:
        body = await response.json(content_type=None)  # type: ignore[attr-defined]
    except Exception:
        return {}
    return body if isinstance(body, dict) else {}


def describe(body: dict, status: int) -> str:
    """A short account of an X error answer (its title, reason and detail)."""
    errors = body.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    parts = [
        str(value)
        for value in (
            body.get("title") or first.get("title"),
            body.get("reason") or first.get("reason"),
            body.get("detail") or first.get("detail"),
            first.get("message"),
        )
        if value
    ]
    return f"{status}: {' - '.join(dict.fromkeys(parts))}" if parts else str(status)


def is_tier_refusal(body: dict) -> bool:
    """X's answer when the app's access level does not include an endpoint, e.g.
    {"title": "Client Forbidden", "reason": "client-not-enrolled",
     "required_enrollment": "Appropriate Level of API Access",
     "type": "https://api.twitter.com/2/problems/client-forbidden", ...}"""
    candidates = [body, *(e for e in body.get("errors") or [] if isinstance(e, dict))]
    return any(
        item.get("reason") in TIER_REASONS
        or "required_enrollment" in item
        or str(item.get("type", "")).endswith("/client-forbidden")
        for item in candidates
    )


def error_for(status: int, body: dict, reset: str | None = None) -> XError:
    """The XError for an HTTP error answer from X."""
    message = describe(body, status)
    if status == 401:
        return Unauthorized(message)
    if status == 403:
        return AccessDenied(message, tier=is_tier_refusal(body))
    if status == 429:
        try:
            reset_at = float(reset) if reset else None
        except ValueError:
            reset_at = None
        return RateLimited(message, reset_at)
    if status >= 500 or status in (408, 409):
        return Unavailable(message)
    return Rejected(message)


async def translate(error: BaseException) -> XError | None:
    """The XError for an exception raised by a tweepy call, or None for a bug."""
    if isinstance(error, tweepy.errors.HTTPException):
        response = error.response
        status = getattr(response, "status", 0)
        reset = getattr(error, "reset_time", None)
        return error_for(status, await _body(response), str(reset) if reset else None)
    if isinstance(error, aiohttp.ClientResponseError):
        return error_for(error.status, {})
    if isinstance(error, aiohttp.ClientError | asyncio.TimeoutError | ValueError):
        return Unavailable(f"{type(error).__name__}: {error}".rstrip(": "))
    return None


class XApi:
    """The calls the listener makes, each raising only XError subclasses."""

    def __init__(
        self,
        token: str,
        http: aiohttp.ClientSession,
        api_base: str,
        *,
        request_timeout: float = 30.0,
        stall_seconds: float = 30.0,
    ) -> None:
        # tweepy logs each request's headers, bearer token included, at DEBUG.
        logging.getLogger("tweepy").setLevel(logging.INFO)
        self._token = token
        self._http = http
        self._api_base = api_base
        self._stall = stall_seconds
        session = ApiSession(http, api_base, aiohttp.ClientTimeout(total=request_timeout))
        self.client = AsyncClient(bearer_token=token, return_type=dict)
        self.client.session = session
        self.rules = AsyncStreamingClient(token, return_type=dict)
        self.rules.session = session

    def __repr__(self) -> str:
        return f"XApi(api_base={self._api_base!r}, token=<hidden>)"

    def stream_session(self) -> ApiSession:
        """A session for one stream connection: no overall time limit, but a stall (no
        byte for `stall_seconds`; X sends a keep-alive every 20 s) breaks it."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=self._stall)
        return ApiSession(self._http, self._api_base, timeout)

    @property
    def token(self) -> str:
        return self._token

    async def _call(self, call: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        try:
            answer = await call(*args, **kwargs)
        except Exception as error:
            translated = await translate(error)
            if translated is None:
                raise
            raise translated from None
        return answer if isinstance(answer, dict) else {}

    async def search_page(
        self,
        query: str,
        *,
        since_id: str | None,
        next_token: str | None,
        end_time: datetime | None,
    ) -> dict:
        """One page of recent search, newest posts first."""
        return await self._call(
            self.client.search_recent_tweets,
            query,
            since_id=since_id,
            next_token=next_token,
            end_time=end_time,
            max_results=PAGE_SIZE,
            **REQUEST_FIELDS,
        )

    async def lookup(self, ids: list[str]) -> dict:
        """Posts by id (at most 100), with their public metrics."""
        return await self._call(
            self.client.get_tweets, ids[:PAGE_SIZE], tweet_fields=["public_metrics"]
        )

    async def sync_rules(self, value: str, tag: str) -> tuple[bool, list[str]]:
        """Make sure the filtered stream has the rule `value` tagged `tag`, and remove
        rules carrying `tag` with another value (stale ones from an older config).
        Rules with other tags are left alone. Returns (added, deleted rule ids)."""
        current = await self._call(self.rules.get_rules)
        ours = [rule for rule in current.get("data") or [] if rule.get("tag") == tag]
        keep = [rule for rule in ours if rule.get("value") == value][:1]
        stale = [str(rule["id"]) for rule in ours if rule not in keep]
        if stale:
            await self._call(self.rules.delete_rules, stale)
        if keep:
            return False, stale
        answer = await self._call(self.rules.add_rules, StreamRule(value=value, tag=tag))
        errors = [
            e for e in answer.get("errors") or [] if e.get("title") not in (None, "DuplicateRule")
        ]
        if errors:
            raise Rejected(f"X refused the stream rule {value!r}: {describe(answer, 400)}")
        return True, stale
