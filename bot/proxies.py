"""Trusting a TLS proxy in front of Chorus (`server.trusted_proxies`).

Behind a proxy every request seems to come from the proxy over plain HTTP: cookies would
not be marked Secure and logs would name the proxy. When the connection comes from one
of the configured proxies (addresses or networks), Chorus takes the scheme from
`X-Forwarded-Proto`, the host from `X-Forwarded-Host` and the client's address from
`X-Forwarded-For` (the right-most address that is not itself a trusted proxy). From any
other peer those headers are ignored, since anyone can send them.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from bot.networks import Network

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip('"')
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class TrustedProxies:
    def __init__(self, networks: Sequence[Network]) -> None:
        self.networks = tuple(networks)

    def trusts(self, address: str | None) -> bool:
        parsed = _address(address or "")
        return parsed is not None and any(parsed in network for network in self.networks)

    def client_address(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The client's address: the right-most X-Forwarded-For hop not a trusted proxy."""
        if not forwarded_for or not self.trusts(peer):
            return peer
        for hop in reversed(forwarded_for.split(",")):
            address = _address(hop)
            if address is None:
                return peer  # a malformed header: keep what we know for certain
            if not any(address in network for network in self.networks):
                return str(address)
        return peer

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self.networks or not self.trusts(request.remote):
            return await handler(request)
        changes: dict[str, str] = {}
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        if proto in ("http", "https"):
            changes["scheme"] = proto
        host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
        if host:
            changes["host"] = host
        client = self.client_address(request.remote, request.headers.get("X-Forwarded-For"))
        if client and client != request.remote:
            changes["remote"] = client
        return await handler(request.clone(**changes) if changes else request)  # type: ignore[arg-type]
