"""`chorus run`: the server, the configured channels and the background jobs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Coroutine
from typing import Any

from bot.config import load_settings
from bot.runtime import serve_until_signalled


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "run",
        parents=[common],
        help="start Chorus: web server, webhooks and every configured channel",
        description="Start Chorus. Channels without their tokens are skipped with a log line "
        "saying how to enable them.",
    )
    parser.add_argument("--host", help="address to listen on (default: server.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default: server.port, 8080)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    run_loop(serve_until_signalled(settings, args.host, args.port))
    exit_now(0)
    return 0


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run the server on uvloop where it is installed (not on Windows): its event loop
    and sockets in C took 0.10 ms less CPU a message than asyncio's, of about 1.5, on
    average over six alternating pairs of bench/load.py runs."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def exit_now(code: int) -> None:
    """End the process once Chorus has stopped: the store, server and channels are closed
    by now, and the interpreter's own teardown (seconds spent freeing the language models)
    would push the time from SIGTERM to exit past the 5 s a supervisor allows."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
