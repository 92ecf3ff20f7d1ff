"""`chorus analyse`: run the ingestion enrichment (redaction, language, sentiment) over
text from stdin or a CSV column, one JSON object per line. Nothing is stored.

Lines are printed in input order. Typed at a terminal, each line is answered as it is
entered. Piped or read from a CSV, lines are enriched in batches of BATCH; when there are
more than two batches and more than one core, by a pool of worker processes (one a core),
each forked once the models are loaded, so that they share them instead of loading them
again. A long run says how far it has got on stderr every PROGRESS_SECONDS, and how long
it took at the end (stdout holds only the JSON lines). The command imports nothing of the
store or the channels, so it starts in well under a second; the models and the sentiment
analyser load when the first text needs them.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import multiprocessing
import os
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import chain, islice
from multiprocessing.context import BaseContext
from pathlib import Path

from bot.config import ConfigError, load_settings
from handlers.enrich import Enricher, Enrichment

# Lines a worker enriches per task: large enough that handing them over costs little,
# small enough that two workers get even shares of a few thousand lines.
BATCH = 250
# Batches handed out ahead of the one being printed, per worker.
AHEAD = 2
# How often a long run logs its progress (a run shorter than this says nothing).
PROGRESS_SECONDS = 10.0

log = logging.getLogger(__name__)

# A line to analyse: the value of its --id-column (None without one), and its text.
Row = tuple[str | None, str]


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
        choices=["chorus", "vader", "textblob"],
        help="override sentiment.analyser from the config",
    )
    parser.set_defaults(handler=run)


# sentiment_confidence: the label's calibrated probability (analyser chorus), else null.
OUTPUT_KEYS = (
    "text",
    "language",
    "polarity",
    "subjectivity",
    "label",
    "redactions",
    "sentiment_confidence",
)


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
    undecodable: list[UnicodeDecodeError] = []
    rows = _until_undecodable(_texts(args), undecodable)
    if not args.csv and sys.stdin.isatty():
        for row in rows:
            _write(_lines(enricher, [row], args.id_column))
    else:
        _analyse_batches(enricher, rows, args.id_column)
    if undecodable:
        raise ConfigError(f"{args.csv or 'stdin'}: not UTF-8 text; save it as UTF-8")
    return 0


def _until_undecodable(rows: Iterator[Row], errors: list[UnicodeDecodeError]) -> Iterator[Row]:
    """`rows` up to a byte that is not UTF-8, noting the error rather than raising it, so
    that every line read before it is still printed."""
    try:
        yield from rows
    except UnicodeDecodeError as error:
        errors.append(error)


class _Progress:
    """Counts the lines printed and logs how far the run has got, every PROGRESS_SECONDS."""

    def __init__(self) -> None:
        self.started = self._said = time.monotonic()
        self.lines = 0

    def printed(self, lines: str) -> None:
        _write(lines)
        self.lines += lines.count("\n")  # one a record: json.dumps escapes the text's own
        now = time.monotonic()
        if now - self._said >= PROGRESS_SECONDS:
            self._said = now
            rate = self.lines / (now - self.started)
            log.info("analysed %s lines so far (%s a second)", f"{self.lines:,}", f"{rate:,.0f}")

    def finished(self) -> None:
        took = time.monotonic() - self.started
        if took >= PROGRESS_SECONDS:
            log.info("analysed %s lines in %.1f s", f"{self.lines:,}", took)


def _analyse_batches(enricher: Enricher, rows: Iterable[Row], id_column: str | None) -> None:
    """Enrich and print `rows` batch by batch, in a process pool when that pays."""
    progress = _Progress()
    _enrich_and_print(enricher, rows, id_column, progress)
    progress.finished()


def _enrich_and_print(
    enricher: Enricher, rows: Iterable[Row], id_column: str | None, progress: _Progress
) -> None:
    batches = _batches(rows)
    first = list(islice(batches, 3))
    workers = _cores()
    if len(first) < 3 or workers < 2:
        for batch in chain(first, batches):
            progress.printed(_lines(enricher, batch, id_column))
        return
    # Loaded before the fork (on every core), the models are shared by every worker.
    enricher.warm_up(on_every_core=True)
    global _worker_enricher
    _worker_enricher = enricher
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_fork_context(),
        initializer=_start_worker,
        initargs=(enricher,),
    ) as pool:
        pending: deque[Future[str]] = deque()
        try:
            for batch in chain(first, batches):
                pending.append(pool.submit(_enrich_batch, batch, id_column))
                while len(pending) > AHEAD * workers:
                    progress.printed(pending.popleft().result())
            while pending:
                progress.printed(pending.popleft().result())
        except BaseException:  # Ctrl-C, a closed pipe: stop at once
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _batches(rows: Iterable[Row]) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, BATCH)):
        yield batch


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _fork_context() -> BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


_worker_enricher: Enricher | None = None


def _start_worker(enricher: Enricher) -> None:
    global _worker_enricher
    if _worker_enricher is None:  # spawned rather than forked: build from the arguments
        _worker_enricher = enricher


def _enrich_batch(batch: list[Row], id_column: str | None) -> str:
    assert _worker_enricher is not None
    return _lines(_worker_enricher, batch, id_column)


def _lines(enricher: Enricher, rows: Iterable[Row], id_column: str | None) -> str:
    """One JSON object a line, for each row, in order; the row's id first when asked for."""
    listed = list(rows)
    enriched = enricher.enrich_many([text for _row_id, text in listed])
    lines = []
    for (row_id, _text), result in zip(listed, enriched, strict=True):
        record = _record(result)
        if id_column:
            record = {id_column: row_id, **record}
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    return "".join(lines)


def _record(result: Enrichment) -> dict[str, object]:
    return {
        "text": result.text,
        "language": result.language,
        "polarity": result.polarity,
        "subjectivity": result.subjectivity,
        "label": result.label,
        "redactions": list(result.redactions),
        "sentiment_confidence": result.confidence,
    }


def _write(lines: str) -> None:
    sys.stdout.write(lines)
    sys.stdout.flush()
