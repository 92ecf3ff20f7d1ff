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
        "--analyser",
        choices=["chorus", "vader", "textblob"],
        help="override sentiment.analyser from the config",
    )
    parser.set_defaults(handler=run)


def _texts(args: argparse.Namespace) -> Iterator[str]:
    if not args.csv:
        for line in sys.stdin:
            yield line.rstrip("\r\n")
        return
    if not args.column:
        raise ConfigError("--csv needs --column NAME (the column holding the text)")
    path = Path(args.csv)
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror})") from None
    with handle:
        reader = csv.DictReader(handle)
        if args.column not in (reader.fieldnames or []):
            raise ConfigError(
                f"{path}: no column {args.column!r}; columns are: "
                f"{', '.join(reader.fieldnames or [])}"
            )
        for row in reader:
            yield row[args.column] or ""


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config).consultation
    sentiment = settings.sentiment
    if args.analyser:
        sentiment = sentiment.model_copy(update={"analyser": args.analyser})
    enricher = Enricher(settings.consultation.languages, sentiment)
    try:
        for text in _texts(args):
            _print(enricher, text)
    except UnicodeDecodeError:
        raise ConfigError(f"{args.csv or 'stdin'}: not UTF-8 text; save it as UTF-8") from None
    return 0


def _print(enricher: Enricher, text: str) -> None:
    result = enricher.enrich(text)
    record = {
        "text": result.text,
        "language": result.language,
        "polarity": result.polarity,
        "subjectivity": result.subjectivity,
        "label": result.label,
        "redactions": list(result.redactions),
    }
    print(json.dumps(record, ensure_ascii=False), flush=True)
