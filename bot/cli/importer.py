"""`chorus import FILE.csv|FILE.xlsx`: paper forms and event notes as assisted ideas.

Refused rows are printed on stderr with their line number and reason while the good rows
are stored; a summary line ends the run on stdout. Exit code 0 when every row was taken
(imported now or before), 1 when some rows were refused.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.cli.common import cli_actor, services_for
from bot.config import ConfigError
from handlers.imports import FIELDS, TableError, import_rows, read_table
from handlers.imports.apply import Importer, ImportSummary
from handlers.imports.rows import RowError
from handlers.imports.table import parse_mapping

PROGRESS_FROM = 1000  # rows; smaller files finish before a bar would tell anyone anything


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "import",
        parents=[common],
        help="import paper forms from a CSV or XLSX file as assisted ideas",
        description="Store each row as an idea entered on someone's behalf. Headers: "
        f"{', '.join(FIELDS)} (only text is required). Importing a file again stores "
        "only rows not imported before (by source_id, else by the row's content).",
    )
    parser.add_argument("file", metavar="FILE", help="a .csv (UTF-8) or .xlsx file")
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=FIELD",
        help="read the column COLUMN as FIELD, e.g. --map Idea=text (repeatable)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="check and count the rows; store nothing"
    )
    parser.set_defaults(handler=run)


async def _import(args: argparse.Namespace) -> ImportSummary:
    try:
        table = read_table(Path(args.file), parse_mapping(args.map))
    except TableError as error:
        raise ConfigError(str(error)) from None
    async with services_for(args.config, warm_up=False) as services:
        engine = services.engine
        importer = Importer(
            store=services.store,
            config=engine.config,
            enricher=engine.enricher,
            pseudonyms=engine.pseudonyms,
            question_ids=dict(engine.question_ids),
        )
        bar = None
        if table.total and table.total > PROGRESS_FROM:
            from tqdm import tqdm

            bar = tqdm(total=table.total, unit="row", file=sys.stderr)

        def refused(error: RowError) -> None:
            line = f"{args.file}: line {error.line}: {error.reason}"
            if bar is not None:
                bar.write(line, file=sys.stderr)
            else:
                print(line, file=sys.stderr)

        try:
            summary = await import_rows(
                importer,
                table.rows,
                now=engine.clock(),
                dry_run=args.dry_run,
                on_row=bar.update if bar is not None else None,
                on_refused=refused,
            )
        finally:
            if bar is not None:
                bar.close()
        if not args.dry_run:
            async with services.store.transaction() as unit:
                await unit.audit.add(
                    cli_actor(),
                    "import",
                    engine.clock(),
                    target=Path(args.file).name[:64],
                    detail={
                        "rows": summary.rows,
                        "imported": summary.imported,
                        "repeated": summary.repeated,
                        "refused": len(summary.refused),
                    },
                )
        return summary


def run(args: argparse.Namespace) -> int:
    summary = asyncio.run(_import(args))
    print(f"{Path(args.file).name}: {summary.line()}")
    return 1 if summary.refused else 0
