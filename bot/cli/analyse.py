"""`chorus analyse`: run the ingestion enrichment (redaction, language, sentiment) over
text from stdin or a CSV column, one JSON object per line. Nothing is stored."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from bot.config import ConfigError, load_settings
from handlers.enrich import Enricher


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "analyse",
        parents=[common],
        help="redact and score text lines from stdin or a CSV column, as JSON lines",
    )
    parser.add_argument("--csv", metavar="FILE", help="read a CSV file instead of stdin")
    parser.add_argument("--column", metavar="NAME", help="the CSV column holding the text")
    parser.add_argument(
        "--id-column",
        metavar="NAME",
        help="a CSV column (e.g. the row id) copied into every output line, for joining back",
    )
    parser.add_argument(
        "--analyser",
        choices=["textblob", "vader"],
        help="override sentiment.analyser from the config",
    )
    parser.set_defaults(handler=run)


OUTPUT_KEYS = ("text", "language", "polarity", "subjectivity", "label", "redactions")


def _texts(args: argparse.Namespace) -> Iterator[tuple[str | None, str]]:
    """(the row's --id-column value or None, its text)."""
    if not args.csv:
        if args.id_column:
            raise ConfigError("--id-column needs --csv FILE")
        for line in sys.stdin:
            yield None, line.rstrip("\r\n")
        return
    if not args.column:
        raise ConfigError("--csv needs --column NAME (the column holding the text)")
    if args.id_column in OUTPUT_KEYS:
        raise ConfigError(f"--id-column {args.id_column!r} would clash with an output key")
    path = Path(args.csv)
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror})") from None
    with handle:
        reader = csv.DictReader(handle)
        for column in (args.column, args.id_column):
            if column and column not in (reader.fieldnames or []):
                raise ConfigError(
                    f"{path}: no column {column!r}; columns are: "
                    f"{', '.join(reader.fieldnames or [])}"
                )
        for row in reader:
            yield (row[args.id_column] if args.id_column else None), row[args.column] or ""


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config).consultation
    sentiment = settings.sentiment
    if args.analyser:
        sentiment = sentiment.model_copy(update={"analyser": args.analyser})
    enricher = Enricher(settings.consultation.languages, sentiment)
    try:
        for row_id, text in _texts(args):
            _print(enricher, text, {args.id_column: row_id} if args.id_column else {})
    except UnicodeDecodeError:
        raise ConfigError(f"{args.csv or 'stdin'}: not UTF-8 text; save it as UTF-8") from None
    return 0


def _print(enricher: Enricher, text: str, row_id: dict[str, str | None]) -> None:
    result = enricher.enrich(text)
    record = {
        **row_id,
        "text": result.text,
        "language": result.language,
        "polarity": result.polarity,
        "subjectivity": result.subjectivity,
        "label": result.label,
        "redactions": list(result.redactions),
    }
    print(json.dumps(record, ensure_ascii=False), flush=True)
