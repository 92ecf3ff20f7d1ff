"""`chorus analyse`: run the ingestion enrichment (redaction, language, sentiment) over
text from stdin or a CSV column, one JSON object per line. Nothing is stored.

Lines are printed in input order. Typed at a terminal, each line is answered as it is
entered. Piped or read from a CSV, lines are enriched in batches of BATCH; when there are
more than two batches and more than one core, by a pool of worker processes (one a core),
each forked once the models are loaded, so that they share them instead of loading them
again. The command imports nothing of the store or the channels, so it starts in well
under a second; the models and the sentiment analyser load when the first text needs them.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import chain, islice
from pathlib import Path

from bot.config import ConfigError, load_settings
from handlers.enrich import Enricher, Enrichment

# Lines a worker enriches per task: large enough that handing them over costs little,
# small enough that two workers get even shares of a few thousand lines.
BATCH = 250
# Batches handed out ahead of the one being printed, per worker.
AHEAD = 2


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
        choices=["textblob", "vader"],
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
    undecodable: list[UnicodeDecodeError] = []
    texts = _until_undecodable(_texts(args), undecodable)
    if not args.csv and sys.stdin.isatty():
        for text in texts:
            _write(_lines(enricher, [text]))
    else:
        _analyse_batches(enricher, texts)
    if undecodable:
        raise ConfigError(f"{args.csv or 'stdin'}: not UTF-8 text; save it as UTF-8")
    return 0


def _until_undecodable(texts: Iterator[str], errors: list[UnicodeDecodeError]) -> Iterator[str]:
    """`texts` up to a byte that is not UTF-8, noting the error rather than raising it, so
    that every line read before it is still printed."""
    try:
        yield from texts
    except UnicodeDecodeError as error:
        errors.append(error)


def _analyse_batches(enricher: Enricher, texts: Iterable[str]) -> None:
    """Enrich and print `texts` batch by batch, in a process pool when that pays."""
    batches = _batches(texts)
    first = list(islice(batches, 3))
    workers = _cores()
    if len(first) < 3 or workers < 2:
        for batch in chain(first, batches):
            _write(_lines(enricher, batch))
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
                pending.append(pool.submit(_enrich_batch, batch))
                while len(pending) > AHEAD * workers:
                    _write(pending.popleft().result())
            while pending:
                _write(pending.popleft().result())
        except BaseException:  # Ctrl-C, a closed pipe: stop at once
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _batches(texts: Iterable[str]) -> Iterator[list[str]]:
    iterator = iter(texts)
    while batch := list(islice(iterator, BATCH)):
        yield batch


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _fork_context():  # -> multiprocessing context; its type is private to multiprocessing
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


_worker_enricher: Enricher | None = None


def _start_worker(enricher: Enricher) -> None:
    global _worker_enricher
    if _worker_enricher is None:  # spawned rather than forked: build from the arguments
        _worker_enricher = enricher


def _enrich_batch(batch: list[str]) -> str:
    assert _worker_enricher is not None
    return _lines(_worker_enricher, batch)


def _lines(enricher: Enricher, texts: Iterable[str]) -> str:
    """One JSON object a line, for each text, in order."""
    return "".join(
        json.dumps(_record(enricher.enrich(text)), ensure_ascii=False) + "\n" for text in texts
    )


def _record(result: Enrichment) -> dict[str, object]:
    return {
        "text": result.text,
        "language": result.language,
        "polarity": result.polarity,
        "subjectivity": result.subjectivity,
        "label": result.label,
        "redactions": list(result.redactions),
    }


def _write(lines: str) -> None:
    sys.stdout.write(lines)
    sys.stdout.flush()
