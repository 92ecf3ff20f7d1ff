"""Fake provider servers that tests (and benchmarks) start on random local ports."""

from aiohttp import web


def html_error(status: int, reason: str) -> web.Response:
    """What a proxy in front of a provider answers while the provider is down: an HTML
    page, not the provider's JSON."""
    page = f"<html><body><h1>{status} {reason}</h1></body></html>"
    return web.Response(status=status, text=page, content_type="text/html")
