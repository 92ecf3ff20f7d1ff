"""Micro-benchmark: python-telegram-bot's sendMessage over httpx (its default transport)
and over aiohttp (bot/channels/telegram/aiohttp_request.py), in one run.

A fake Bot API (aiohttp, in another process, so its CPU is not counted) answers every
sendMessage; the same `telegram.Bot` calls it N times with each transport in turn, 16
calls in flight (as Chorus's sender pool allows). Prints CPU µs per call of this process
(the bot's side only) and calls per second, for rounds alternating the two transports.

    .venv/bin/python bench/telegram_send.py [--calls 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import time

from aiohttp import web
from telegram import Bot
from telegram.request import BaseRequest, HTTPXRequest

from bot.channels.telegram.aiohttp_request import AiohttpRequest

TOKEN = "7000000001:AAFakeTokenForChorusSendBench_0123456789a"
IN_FLIGHT = 16


def serve_fake_api(port: int) -> None:
    async def send_message(request: web.Request) -> web.Response:
        # As the Bot API: a JSON body, or a form.
        form = (
            await request.json()
            if request.content_type == "application/json"
            else await request.post()
        )
        result = {
            "message_id": 1,
            "date": 0,
            "chat": {"id": int(str(form.get("chat_id", 1))), "type": "private"},
            "text": str(form.get("text", "")),
        }
        return web.json_response({"ok": True, "result": result})

    async def get_me(_request: web.Request) -> web.Response:
        me = {"id": 7000000001, "is_bot": True, "first_name": "Chorus", "username": "chorus_bot"}
        return web.json_response({"ok": True, "result": me})

    app = web.Application()
    app.router.add_post(f"/bot{TOKEN}/sendMessage", send_message)
    app.router.add_post(f"/bot{TOKEN}/getMe", get_me)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def round_of(request: BaseRequest, base_url: str, calls: int) -> tuple[float, float]:
    bot = Bot(TOKEN, base_url=base_url, request=request)
    async with bot:
        for _ in range(20):  # warm: connections open, code paths hot
            await bot.send_message(chat_id=42, text="warm")
        queue = list(range(calls))

        async def sender() -> None:
            while queue:
                n = queue.pop()
                await bot.send_message(chat_id=42, text=f"Thanks! Your idea is saved as idea {n}.")

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(IN_FLIGHT)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / calls * 1e6, calls / wall


async def measure(base_url: str, calls: int, rounds: int) -> dict[str, list[tuple[float, float]]]:
    results: dict[str, list[tuple[float, float]]] = {"httpx": [], "aiohttp": []}
    for _ in range(rounds):
        for name in results:
            request: BaseRequest = (
                HTTPXRequest(connection_pool_size=IN_FLIGHT)
                if name == "httpx"
                else AiohttpRequest(IN_FLIGHT)
            )
            results[name].append(await round_of(request, base_url, calls))
    return results


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def wait_listening(port: int) -> None:
    for _ in range(200):
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError("the fake Bot API did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    port = free_port()
    server = multiprocessing.get_context("spawn").Process(
        target=serve_fake_api, args=(port,), daemon=True
    )
    server.start()
    try:
        asyncio.run(wait_listening(port))
        results = asyncio.run(measure(f"http://127.0.0.1:{port}/bot", args.calls, args.rounds))
    finally:
        server.terminate()
        server.join()
    summary = {
        name: {
            "cpu_us_per_call": [round(cpu, 1) for cpu, _rate in runs],
            "calls_per_s": [round(rate, 1) for _cpu, rate in runs],
        }
        for name, runs in results.items()
    }
    if args.json:
        print(json.dumps(summary))
        return
    print(f"sendMessage through python-telegram-bot, {args.calls} calls, {IN_FLIGHT} in flight")
    for name, figures in summary.items():
        cpu = ", ".join(f"{v:.0f}" for v in figures["cpu_us_per_call"])
        rate = ", ".join(f"{v:.0f}" for v in figures["calls_per_s"])
        print(f"  {name:<8} CPU µs a call (this process): {cpu}; calls/s: {rate}")
    httpx_cpu = min(summary["httpx"]["cpu_us_per_call"])
    aiohttp_cpu = min(summary["aiohttp"]["cpu_us_per_call"])
    print(f"aiohttp / httpx, best rounds: {aiohttp_cpu / httpx_cpu:.2f}")


if __name__ == "__main__":
    main()
