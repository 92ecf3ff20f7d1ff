"""Benchmark: how well Chorus's sentiment analysers agree with human ratings, and how fast.

Runs each analyser from handlers/enrich/sentiment.py (the code Chorus runs) over the
human-rated sets of the VADER paper in ../shared/data/sentiment/ (see its README) and prints,
per set and analyser: accuracy and macro-F1 over positive/negative/neutral, Pearson r against
the mean human rating, and texts per second.

Scoring, as in the data's README: a rating of -4..+4 is divided by 4; both it and the
analyser's polarity are positive at >= 0.05, negative at <= -0.05, neutral between (the same
band as Chorus's default `SentimentSettings`).

    python bench/sentiment.py                  # every analyser, every set
    python bench/sentiment.py --analyser configured   # the one config.yaml chooses
    python bench/sentiment.py --analyser vader --limit 500
    python bench/sentiment.py --data /path/to/sentiment
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from handlers.enrich.sentiment import ANALYSERS, SentimentAnalyser, get_analyser, label_for
from handlers.settings import SentimentSettings

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "sentiment"
# The README's sets, in its order, with their short names.
SETS = {
    "tweets": "tweets.tsv",
    "movie": "movieReviewSnippets.tsv",
    "amazon": "amazonReviewSnippets.tsv",
    "nyt": "nytEditorialSnippets.tsv",
}
LABELS = ["positive", "negative", "neutral"]
BAND = SentimentSettings(positive_threshold=0.05, negative_threshold=-0.05)
LIBRARIES = {"textblob": "textblob", "vader": "vaderSentiment"}


@dataclass(frozen=True)
class Rated:
    rating: float  # mean human rating, -4..+4
    text: str


@dataclass(frozen=True)
class Result:
    accuracy: float
    macro_f1: float
    pearson_r: float
    per_second: float


def load_set(path: Path, limit: int | None = None) -> list[Rated]:
    """One set: tab-separated `id, mean_rating, text` with a header row and no quoting."""
    rows: list[Rated] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:3]] != ["id", "mean_rating", "text"]:
            raise ValueError(f"{path}: expected a header row 'id, mean_rating, text'")
        for line, row in enumerate(reader, start=2):
            if len(row) != 3:
                raise ValueError(f"{path}, line {line}: expected 3 tab-separated fields")
            rows.append(Rated(float(row[1]), row[2]))
            if limit is not None and len(rows) >= limit:
                break
    return rows


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    if len(x) < 2 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def evaluate(analyser: SentimentAnalyser, rows: Sequence[Rated]) -> Result:
    texts = [row.text for row in rows]
    start = time.perf_counter()
    scores = [analyser.analyse(text)[0] for text in texts]
    elapsed = time.perf_counter() - start
    truth = [label_for(row.rating / 4, BAND) for row in rows]
    predicted = [label_for(score, BAND) for score in scores]
    return Result(
        accuracy=float(accuracy_score(truth, predicted)),
        macro_f1=float(f1_score(truth, predicted, labels=LABELS, average="macro", zero_division=0)),
        pearson_r=pearson(scores, [row.rating for row in rows]),
        per_second=len(texts) / elapsed if elapsed > 0 else float("inf"),
    )


def configured_analyser(config: Path = REPO / "config.yaml") -> str:
    """The analyser config.yaml chooses (`sentiment.analyser`), as Chorus would read it."""
    from bot.config import load_settings

    return load_settings(config, environ={}).consultation.sentiment.analyser


def machine() -> str:
    libraries = ", ".join(f"{lib} {version(lib)}" for lib in LIBRARIES.values())
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {libraries}"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help=f"folder with the rated .tsv sets (default: {DEFAULT_DATA})",
    )
    parser.add_argument(
        "--analyser",
        choices=[*ANALYSERS, "configured", "all"],
        default="all",
        help="analyser to evaluate: one by name, the one config.yaml chooses, or all "
        "(default: all)",
    )
    parser.add_argument(
        "--limit", type=int, default=None, metavar="N", help="only the first N texts of each set"
    )
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    paths = {name: args.data / filename for name, filename in SETS.items()}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        print(
            "bench/sentiment.py: the human-rated sentiment sets are missing:\n  "
            + "\n  ".join(missing)
            + "\nPoint --data at the folder holding "
            + ", ".join(SETS.values()),
            file=sys.stderr,
        )
        return 2
    configured = configured_analyser()
    names = {"all": list(ANALYSERS), "configured": [configured]}.get(args.analyser, [args.analyser])
    analysers = [get_analyser(name) for name in names]
    for analyser in analysers:
        analyser.analyse("warm up: load the lexicon before timing")

    print("Sentiment analysers against mean human ratings (VADER paper sets)")
    print(f"labels: positive >= {BAND.positive_threshold}, negative <= {BAND.negative_threshold}")
    print(f"configured analyser (config.yaml sentiment.analyser): {configured}")
    print(f"machine: {machine()}")
    if args.limit:
        print(f"first {args.limit} texts of each set")
    print()
    header = (
        f"{'set':<8} {'texts':>6}  {'analyser':<9} {'accuracy':>8} {'macro-F1':>8} "
        f"{'Pearson r':>9} {'texts/s':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, path in paths.items():
        try:
            rows = load_set(path, args.limit)
        except ValueError as error:
            print(f"bench/sentiment.py: {error}", file=sys.stderr)
            return 2
        for analyser in analysers:
            result = evaluate(analyser, rows)
            print(
                f"{name:<8} {len(rows):>6}  {analyser.name:<9} {result.accuracy:>8.3f} "
                f"{result.macro_f1:>8.3f} {result.pearson_r:>9.3f} {result.per_second:>9,.0f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
