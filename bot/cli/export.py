"""`chorus export`: contributions with pseudonyms only, as CSV or JSON lines."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.cli.common import services_for
from handlers.insights.exports import FORMATS, export_contributions


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "export",
        parents=[common],
        help="export contributions (pseudonyms only)",
        description="Export every contribution with its tags. People appear only by "
        "pseudonym. JSON is one object per line.",
    )
    parser.add_argument("--format", choices=FORMATS, default="csv", help="default: csv")
    parser.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    parser.set_defaults(handler=run)


async def _export(args: argparse.Namespace) -> int:
    async with services_for(args.config) as services:
        if not args.out:
            return await export_contributions(services.store, sys.stdout, args.format)
        path = Path(args.out)
        partial = path.with_name(path.name + ".partial")
        with partial.open("w", encoding="utf-8", newline="") as out:
            count = await export_contributions(services.store, out, args.format)
        partial.replace(path)  # never leave a half-written file under the real name
        return count


def run(args: argparse.Namespace) -> int:
    count = asyncio.run(_export(args))
    if args.out:
        print(f"wrote {count} contributions to {args.out}", file=sys.stderr)
    return 0
