"""`chorus export`: contributions, votes per idea and themes, with pseudonyms only, as
CSV, JSON or JSON Lines (one table; contributions unless --table says otherwise) or as one
XLSX workbook with every table and an About sheet (needs --out). Written to the audit
log like an export from the chat."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from bot.cli.common import cli_actor, services_for
from bot.cli.reports import add_scope_arguments, scope_of
from bot.config import ConfigError
from handlers.insights.context import Reporting
from handlers.insights.exports import FORMATS, TABLES, write_text, write_xlsx


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "export",
        parents=[common],
        help="export contributions, votes per idea and themes (pseudonyms only)",
        description="Export with people only by pseudonym. CSV, JSON (one document: an "
        "array of rows) and JSONL (one row per line) hold one table; XLSX holds every "
        "table and needs --out. Vote coding: agree = 1, disagree = -1, skip = 0.",
    )
    parser.add_argument("--format", choices=FORMATS, default="csv", help="default: csv")
    parser.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    parser.add_argument(
        "--table",
        choices=TABLES,
        default="contributions",
        help="for csv, json and jsonl (default: contributions)",
    )
    add_scope_arguments(parser)
    parser.set_defaults(handler=run)


async def _export(args: argparse.Namespace) -> int | None:
    if args.format == "xlsx" and not args.out:
        raise ConfigError("--format xlsx needs --out FILE.xlsx (a workbook is not text)")
    async with services_for(args.config, warm_up=False) as services:
        reporting = Reporting.of(services.deps)
        scope = scope_of(args, reporting)
        where = reporting.store_scope(scope)
        if not args.out:
            try:
                count = await write_text(services.store, sys.stdout, args.format, args.table, where)
                sys.stdout.flush()
            except BrokenPipeError:
                # The reader stopped early (`| head`): rows went out all the same.
                _silence_stdout()
                count = None
        else:
            path = Path(args.out)
            partial = path.with_name(path.name + ".partial")
            if args.format == "xlsx":
                with partial.open("wb") as out:
                    counts = await write_xlsx(
                        services.store,
                        out,
                        where,
                        title=f"{reporting.config.consultation.name}: export",
                        scope_text=scope.describe(),
                        now=reporting.now,
                    )
                count = sum(counts.values())
            else:
                with partial.open("w", encoding="utf-8", newline="") as out:
                    count = await write_text(services.store, out, args.format, args.table, where)
            partial.replace(path)  # never leave a half-written file under the real name
        async with services.store.transaction() as unit:
            await unit.audit.add(
                cli_actor(),
                "export",
                reporting.now,
                target=args.format,
                detail={
                    "scope": scope.as_dict(),
                    "table": "all" if args.format == "xlsx" else args.table,
                    "rows": count,
                    "to": "file" if args.out else "stdout",
                    **({"closed_early": True} if count is None else {}),
                },
            )
        return count


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def run(args: argparse.Namespace) -> int:
    count = asyncio.run(_export(args))
    if args.out:
        print(f"wrote {count} rows to {args.out}", file=sys.stderr)
    return 0
