"""The channel kit: how a channel declares itself, and the one webhook path they share.

A channel module declares a `Declaration`: its name, its medium (what the core keys
behaviour on, never the name), its settings model validated from its own
`channels.<name>` section of config.yaml, the model of its own environment variables,
and how to build it. Both models live in the channel's own module: bot/config.py reads
the file and the core's environment and names no channel. `bot/channels/__init__.py`
lists the modules, one line each.

A webhook channel subclasses `WebhookChannel` and writes only what differs: `verify`
(signature → `Forged`), `parse` (provider payload → `Parsed`, or `Malformed`),
`settle` (events that are not messages, such as delivery reports) and `answer`/
`after_commit` (how replies go back). The path itself is written once here:

    read (413 when oversized) → verify (403) → parse (400; 503 while not ready) → hand
    each Inbound to the engine → settle → 503 when the store cannot commit, else answer
    (200) and send.

What a refusal looks like is the channel's `refusal` (JSON for a provider by default; a
form channel answers people with a page), never whether or with which status it refuses.

A payload the parser does not understand is put in `Parsed.ignored`: acknowledged and
logged, never fatal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ValidationError

from bot.channels.base import Channel
from bot.channels.secrets import ChannelSecrets
from bot.config import ConfigError, Settings
from bot.services import Services
from handlers.types import Inbound, Outcome, Reply
from storage.errors import StoreUnavailable

log = logging.getLogger(__name__)

Medium = Literal["chat", "sms", "call", "web", "public", "terminal"]
MEDIA: tuple[str, ...] = get_args(Medium)

DEFAULT_MAX_BODY = 256 * 1024  # providers send a few KiB; more is not theirs


@dataclass(frozen=True)
class Declaration:
    """What a channel module declares about itself."""

    name: str
    medium: Medium
    create: Callable[[Services, aiohttp.ClientSession], Channel | None]
    settings: type[BaseModel]
    secrets: type[BaseModel] = ChannelSecrets  # none of its own unless it declares them
    section: str = ""  # its key under `channels:` when not its name (X's is `twitter`)

    @property
    def section_name(self) -> str:
        return self.section or self.name

    def __post_init__(self) -> None:
        if self.medium not in MEDIA:
            raise ValueError(f"{self.name}: medium {self.medium!r} is not one of {MEDIA}")

    def settings_from(self, settings: Settings) -> Any:
        """This channel's `channels.<name>` section, validated by its own model. The
        consultation is the validation's context (`info.context["consultation"]`), for
        checks against it, such as X's question being one of the questions."""
        key = self.section_name
        section = (settings.file.channels.model_extra or {}).get(key) or {}
        context = {"consultation": settings.consultation}
        try:
            return self.settings.model_validate(section, context=context)
        except ValidationError as error:
            raise ConfigError(_describe(f"channels.{key}", error)) from None

    def secrets_from(self, settings: Settings) -> Any:
        """This channel's environment variables, read through its own model (whose
        fields are aliased to the variables' names)."""
        try:
            return self.secrets.model_validate(dict(settings.env.environ))
        except ValidationError as error:
            raise ConfigError(_describe("environment", error)) from None


def _describe(where: str, error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in (where, *first["loc"]))
    message = first["msg"].removeprefix("Value error, ")
    return f"{location}: {message}"


def check_sections(settings: Settings, declared: Sequence[Declaration]) -> None:
    """Every `channels.<name>` section must belong to a declared channel, and be valid
    for it whether the channel is on or off: checked when Chorus starts, so a mistake
    stops it with one line naming the file and the key."""
    names = {declaration.section_name for declaration in declared}
    for name in settings.file.channels.model_extra or {}:
        if name not in names:
            raise ConfigError(
                f"{settings.path}: channels.{name}: no such channel "
                f"(known: {', '.join(sorted(names))})"
            )
    for declaration in declared:
        try:
            declaration.settings_from(settings)
        except ConfigError as error:
            raise ConfigError(f"{settings.path}: {error}") from None


# --- The shared webhook path ---------------------------------------------------------


class Forged(Exception):
    """The request's signature or secret is missing or wrong (403)."""


class Malformed(Exception):
    """The request is not this provider's payload at all (400)."""


class NotReady(Exception):
    """The channel is still coming up; the provider should send again (503)."""


@dataclass(frozen=True)
class Parsed:
    """What one verified request holds: messages for the engine, other events for the
    channel's own `settle` (delivery reports, media to answer), and what was not
    understood (acknowledged and logged)."""

    inbounds: tuple[Inbound, ...] = ()
    events: tuple[object, ...] = ()
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True)
class Handled:
    inbound: Inbound
    outcome: Outcome


@dataclass(frozen=True)
class Owed:
    """Replies owed for an event that is not a message (a request for text)."""

    address: str
    replies: tuple[Reply, ...]


@dataclass
class WebhookCounts:
    requests: int = 0
    messages: int = 0
    refused: dict[int, int] = field(default_factory=dict)

    def refuse(self, status: int) -> None:
        self.refused[status] = self.refused.get(status, 0) + 1


class WebhookChannel(Channel):
    """A channel whose provider posts to one webhook on Chorus's server."""

    path: str = ""
    max_body_bytes: int = DEFAULT_MAX_BODY

    def __init__(self, services: Services) -> None:
        self.services = services
        self.counts = WebhookCounts()

    def routes(self) -> Sequence[web.RouteDef]:
        return [web.post(self.path, self.receive), *self.extra_routes()]

    def extra_routes(self) -> Sequence[web.RouteDef]:
        return ()

    # What a channel writes --------------------------------------------------------------

    async def verify(self, request: web.Request, body: bytes) -> None:
        """Raise `Forged` unless the provider signed this body (or `Malformed`)."""
        raise NotImplementedError

    async def parse(self, request: web.Request, body: bytes) -> Parsed:
        """The payload's messages and events; `Malformed` when it is not a payload. A
        coroutine, as reading some bodies awaits (a multipart form's reader)."""
        raise NotImplementedError

    async def settle(self, parsed: Parsed) -> Sequence[Owed]:
        """Apply events that are not messages; may raise StoreUnavailable."""
        return ()

    async def after_commit(self, handled: Sequence[Handled], owed: Sequence[Owed]) -> None:
        """Everything is committed: schedule replies that go out through the provider."""

    def answer(
        self, request: web.Request, parsed: Parsed, handled: Sequence[Handled]
    ) -> web.StreamResponse:
        return web.json_response({"ok": True})

    def refusal(
        self, request: web.Request, status: int, reason: str, parsed: Parsed | None
    ) -> web.StreamResponse:
        """The body of a refusal (`parsed` is there when the store refused what was
        parsed, so a person's words can be given back)."""
        return web.json_response({"error": reason}, status=status)

    async def drained(self) -> None:
        """Wait until every reply scheduled so far has been sent or given up (for tests
        and benchmarks; channels that answer inside the response have none)."""

    # The path, written once -----------------------------------------------------------

    async def hand_to_engine(self, inbound: Inbound) -> Outcome:
        """The one seam between webhook channels and the engine; the message goes with
        the channel's declared medium."""
        return await self.services.delivery.handle(replace(inbound, medium=self.medium))

    async def receive(self, request: web.Request) -> web.StreamResponse:
        self.counts.requests += 1
        try:
            body = await read_body(request, self.max_body_bytes)
            await self.verify(request, body)
            parsed = await self.parse(request, body)
        except TooLarge:
            return self._refuse(request, 413, f"the body is over {self.max_body_bytes} bytes")
        except Forged as error:
            return self._refuse(request, 403, str(error) or "the signature does not match")
        except Malformed as error:
            return self._refuse(request, 400, str(error) or f"not a {self.name} payload")
        except NotReady as error:
            return self._refuse(request, 503, str(error) or "not ready", retry_after=5)
        for reason in parsed.ignored:
            log.info("%s: acknowledged, not handled: %s", self.name, reason)
        handled: list[Handled] = []
        try:
            for inbound in parsed.inbounds:
                handled.append(Handled(inbound, await self.hand_to_engine(inbound)))
            owed = await self.settle(parsed)
        except StoreUnavailable as error:
            log.warning("%s: not taken, the store is unavailable: %s", self.name, error)
            reason = "the store is unavailable; try again"
            return self._refuse(request, 503, reason, parsed=parsed, retry_after=30)
        self.counts.messages += len(handled)
        await self.after_commit(handled, owed)
        return self.answer(request, parsed, handled)

    def _refuse(
        self,
        request: web.Request,
        status: int,
        reason: str,
        *,
        parsed: Parsed | None = None,
        retry_after: int | None = None,
    ) -> web.StreamResponse:
        if status != 503:
            log.warning(
                "refused a %s webhook (%s) from %s: %s", self.name, status, request.remote, reason
            )
        self.counts.refuse(status)
        response = self.refusal(request, status, reason, parsed)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    def webhook_status(self) -> dict[str, object]:
        return {
            "webhook": self.path,
            "requests": self.counts.requests,
            "messages": self.counts.messages,
            "refused": dict(self.counts.refused),
        }


class TooLarge(Exception):
    pass


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body, refusing more than `limit` bytes whatever Content-Length says."""
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)
