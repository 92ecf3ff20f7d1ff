"""`chorus chat --as NAME`: the terminal channel, for trying the conversation or
scripting it (one message per line on stdin)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.channels import media
from bot.channels.console import ConsoleSession
from bot.config import load_settings
from bot.services import open_services


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "chat",
        parents=[common],
        help="talk to Chorus in the terminal as a participant",
        description="Hold the participant conversation in the terminal. With stdin from a "
        "pipe, each line is one message and the replies are printed.",
    )
    parser.add_argument(
        "--as",
        dest="name",
        required=True,
        metavar="NAME",
        help="who you are (hashed into a pseudonym like any platform id)",
    )
    parser.add_argument(
        "--assisted", action="store_true", help="mark contributions as entered on someone's behalf"
    )
    # The server's progress ("models ready ...") would break into the conversation.
    parser.set_defaults(handler=run, log_level_default="WARNING")


async def _chat(args: argparse.Namespace) -> None:
    services = await open_services(load_settings(args.config), channel_media=media())
    try:
        session = ConsoleSession(services.delivery, args.name, assisted=args.assisted)
        await session.run(sys.stdin, sys.stdout, interactive=sys.stdin.isatty())
    finally:
        await services.close()


def run(args: argparse.Namespace) -> int:
    asyncio.run(_chat(args))
    return 0
