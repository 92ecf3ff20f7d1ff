"""Team reports on the command line, for operators with access to the store."""

from __future__ import annotations

import argparse
import asyncio

from bot.cli.common import services_for, to_json
from handlers.insights.summary import build_summary, format_summary


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "summary",
        parents=[common],
        help="participants, contributions and votes; by channel, question and role; top ideas",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.add_argument("--top", type=int, default=10, metavar="N", help="how many top ideas")
    parser.set_defaults(handler=run_summary)


async def _summary(args: argparse.Namespace) -> dict:
    async with services_for(args.config) as services:
        return await build_summary(services.store, top=args.top)


def run_summary(args: argparse.Namespace) -> int:
    summary = asyncio.run(_summary(args))
    print(to_json(summary) if args.json else format_summary(summary))
    return 0
