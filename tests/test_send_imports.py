"""A request through python-telegram-bot's HTTP client (httpx over httpcore) looks for no
module once the first has been made. httpcore imports `sniffio` at every request; when
it was not installed, each of those imports failed and searched sys.path again, a tenth
of the event loop's CPU under load (bench/load.py, profiled with py-spy)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

import httpx
from aiohttp import web


class _Searches:
    """A finder placed first on sys.meta_path that records each module looked for."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        self.names.append(name)
        return None  # the other finders go on as usual


async def _sent(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def test_requests_after_the_first_look_for_no_module() -> None:
    app = web.Application()
    app.router.add_post("/bot/sendMessage", _sent)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    searches = _Searches()
    try:
        async with httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{port}/bot/sendMessage"
            assert (await client.post(url, json={})).status_code == 200  # imports settle
            sys.meta_path.insert(0, searches)
            for _ in range(5):
                assert (await client.post(url, json={})).status_code == 200
    finally:
        if searches in sys.meta_path:
            sys.meta_path.remove(searches)
        await runner.cleanup()
    assert searches.names == []
