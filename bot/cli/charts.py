"""`chorus chart NAME --out FILE.png`: the team's charts (activity, sentiment, reach) as
PNG files, the same as the /chart command sends into the chat."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.cli.reports import add_scope_arguments, reporting_for, scope_of

CHART_NAMES = ("activity", "sentiment", "reach")


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "chart",
        parents=[common],
        help="draw a chart as PNG: activity, sentiment or reach",
        description="activity: contributions per day by channel; sentiment: sentiment by "
        "role; reach: representation against the targets in config.yaml.",
    )
    parser.add_argument("name", choices=CHART_NAMES, help="which chart")
    parser.add_argument("--out", required=True, metavar="FILE.png", help="where to write it")
    add_scope_arguments(parser)
    parser.set_defaults(handler=run)


async def _chart(args: argparse.Namespace) -> bytes:
    from handlers.insights.charts import chart_data

    async with reporting_for(args) as reporting:
        _caption, draw, arguments = await chart_data(
            reporting, args.name, scope_of(args, reporting)
        )
    return await asyncio.to_thread(draw, *arguments)


def run(args: argparse.Namespace) -> int:
    png = asyncio.run(_chart(args))
    path = Path(args.out)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(png)
    partial.replace(path)
    print(f"wrote the {args.name} chart to {args.out} ({len(png):,} bytes)", file=sys.stderr)
    return 0
