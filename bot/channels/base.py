"""What every channel adapter provides, and the typed errors it reports when sending.

An adapter knows its medium and nothing else: it turns the outside format into an
`Inbound`, calls the engine, and renders the replies. The core, not the adapter, decides
what a send failure means (retry later, back off, or mark the person unreachable).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp
from aiohttp import web

from handlers.types import Reply


class SendError(Exception):
    """A message could not be delivered."""


class Throttled(SendError):
    """The provider asked us to slow down; try again after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ContactStopped(SendError):
    """The person cannot be reached any more (blocked the bot, opted out, number gone)."""


class Unreachable(SendError):
    """The provider could not be reached (network errors, after retries); try later."""


class BadRequest(SendError):
    """The provider refused the message itself; sending it again will not help."""


async def json_answer(response: aiohttp.ClientResponse) -> dict[str, Any] | None:
    """A provider's answer as a JSON object ({} for other JSON); None when it is not JSON
    at all (a proxy's HTML error page)."""
    try:
        body = await response.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        return None
    return body if isinstance(body, dict) else {}


class Channel:
    """Base class for adapters; override what the channel needs."""

    name: str = ""
    medium: str = "chat"  # set from the channel's declaration (bot/channels/kit.py)

    def routes(self) -> Sequence[web.RouteDef]:
        """Webhook routes to mount on Chorus's own aiohttp server."""
        return ()

    async def start(self) -> None:
        """Begin receiving (e.g. start polling); called after the server is up."""

    async def stop(self) -> None:
        """Stop receiving and release connections."""

    async def deliver(self, address: str, replies: Sequence[Reply]) -> None:
        """Send replies outside a conversation: follow-ups from the outbox, or results of
        background jobs. `address` is the platform id (chat id, phone number). Raise the
        typed SendError subclasses above on failure."""
        raise BadRequest(f"the {self.name} channel cannot send messages on its own")

    def status(self) -> dict:
        return {"running": True}
