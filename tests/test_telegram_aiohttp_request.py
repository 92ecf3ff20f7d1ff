"""python-telegram-bot's transport on aiohttp (bot/channels/telegram/aiohttp_request.py),
against a real HTTP server on a random port: a call's fields (one JSON body) and files (a
multipart form) arrive as the Bot API expects them, a slow answer is python-telegram-bot's
TimedOut, a server that is not there its NetworkError, and the bot's own calls work
through it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram import Bot, InputFile
from telegram.error import NetworkError, TimedOut

from bot.channels.telegram.aiohttp_request import AiohttpRequest

TOKEN = "7000000003:AAFakeTokenForChorusAiohttpRequest_012345"


@pytest.fixture
async def bot_api() -> AsyncIterator[tuple[str, list[dict]]]:
    seen: list[dict] = []

    async def call(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        fields: dict[str, object] = {"content_type": request.content_type}
        if request.content_type == "application/json":
            fields.update(await request.json())
        else:
            for name, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    fields[name] = (value.filename, value.content_type, value.file.read())
                else:
                    fields[name] = value
        seen.append({"method": method, **fields})
        if method == "slow":
            await asyncio.sleep(1)
        if method == "getMe":
            result: object = {"id": 7000000003, "is_bot": True, "first_name": "Chorus",
                              "username": "chorus_bot"}  # fmt: skip
        else:
            result = {"message_id": 5, "date": 0, "chat": {"id": 42, "type": "private"}}
        return web.json_response({"ok": True, "result": result})

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", call)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/bot", seen
    await runner.cleanup()


async def test_the_bot_calls_the_api_through_it(bot_api: tuple[str, list[dict]]) -> None:
    base_url, seen = bot_api
    async with Bot(TOKEN, base_url=base_url, request=AiohttpRequest(4)) as bot:
        sent = await bot.send_message(chat_id=42, text="Thanks! Idea 7 is saved. Zoë ✓")
        await bot.send_photo(
            chat_id=42,
            photo=InputFile(b"\x89PNG chart bytes", filename="chart.png"),
            caption="Votes by role",
        )
    assert sent.message_id == 5
    message, photo = [call for call in seen if call["method"] != "getMe"]
    # Without files, one JSON body; with one, a multipart form.
    assert (message["method"], message["content_type"]) == ("sendMessage", "application/json")
    assert (message["chat_id"], message["text"]) == (42, "Thanks! Idea 7 is saved. Zoë ✓")
    assert photo["method"] == "sendPhoto" and photo["caption"] == "Votes by role"
    assert photo["content_type"] == "multipart/form-data"
    (filename, content_type, content) = next(v for v in photo.values() if isinstance(v, tuple))
    assert (filename, content, content_type) == ("chart.png", b"\x89PNG chart bytes", "image/png")


async def test_a_slow_answer_is_timed_out(bot_api: tuple[str, list[dict]]) -> None:
    base_url, _seen = bot_api
    request = AiohttpRequest(1, read_timeout=0.2)
    await request.initialize()
    try:
        with pytest.raises(TimedOut):
            await request.do_request(f"{base_url}{TOKEN}/slow", "POST")
        status, _payload = await request.do_request(
            f"{base_url}{TOKEN}/sendMessage", "POST", read_timeout=5
        )
        assert status == 200  # a longer timeout given for one call is used
    finally:
        await request.shutdown()


async def test_a_server_that_is_not_there_is_a_network_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    request = AiohttpRequest(1, connect_timeout=1)
    await request.initialize()
    try:
        with pytest.raises(NetworkError, match="aiohttp.Client"):
            await request.do_request(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe", "POST")
    finally:
        await request.shutdown()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe", "POST")
