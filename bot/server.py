"""Chorus's own aiohttp server: health, metrics and the channels' webhooks."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from bot.channels.base import Channel
from bot.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from bot.networks import parse_networks
from bot.proxies import TrustedProxies
from bot.services import Services

SERVICES = web.AppKey("services", Services)
CHANNELS = web.AppKey("channels", list)

MAX_BODY_BYTES = 1024 * 1024


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    store = await services.store.probe()
    channels = {channel.name: channel.status() for channel in request.app[CHANNELS]}
    body = {
        "status": "ok" if store["ok"] else "degraded",
        "store": store,
        "channels": channels,
        "warming": services.warming.warming,  # models still loading, e.g. ["language"]
    }
    return web.json_response(body, status=200 if store["ok"] else 503)


async def metrics(request: web.Request) -> web.Response:
    body = request.app[SERVICES].metrics.render()
    return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})


def build_web_app(services: Services, channels: Sequence[Channel]) -> web.Application:
    proxies = TrustedProxies(parse_networks(services.settings.file.server.trusted_proxies))
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[proxies.middleware])
    app[SERVICES] = services
    app[CHANNELS] = list(channels)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    for channel in channels:
        app.router.add_routes(channel.routes())
    return app
