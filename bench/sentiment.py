"""Benchmark: how well Chorus's sentiment analysers agree with human ratings, and how fast.

Runs each analyser from handlers/enrich/sentiment.py (the code Chorus runs) over the
held-out test part of each of the VADER paper's human-rated sets in ../shared/data/sentiment/
(see its README and bench/sentiment_data.py: 20% of each set, fixed by a seed, never used in
training or tuning the `chorus` model) and prints, per set and analyser: accuracy and
macro-F1 over positive/negative/neutral, Pearson r against the mean human rating, CPU
microseconds per text, and each figure's margin over VADER measured in the same run. For
`chorus` it also prints how well its confidence is calibrated (mean confidence against
accuracy, and the expected calibration error over ten bins).

Scoring, as in the data's README: a rating of -4..+4 is divided by 4 and is positive at
>= 0.05, negative at <= -0.05, neutral between; vader's and textblob's polarity get the same
band (Chorus's default `SentimentSettings`); chorus gives its own label.

    python bench/sentiment.py                  # every analyser, every set's test part
    python bench/sentiment.py --analyser configured   # the one config.yaml chooses
    python bench/sentiment.py --part all --limit 500  # the whole sets (chorus has seen most)
    python bench/sentiment.py --data /path/to/sentiment
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
from sentiment_data import DEFAULT_DATA, LABELS, SETS, Rated, load_set, split
from sklearn.metrics import accuracy_score, f1_score

from handlers.enrich.sentiment import ANALYSERS, SentimentAnalyser, get_analyser, score_text
from handlers.settings import SentimentSettings

REPO = Path(__file__).resolve().parents[1]
BAND = SentimentSettings(positive_threshold=0.05, negative_threshold=-0.05)
LIBRARIES = {"textblob": "textblob", "vader": "vaderSentiment"}
TARGET_MARGIN = 0.10  # issue 15: at least VADER + 0.10 macro-F1 on every held-out set


@dataclass(frozen=True)
class Result:
    accuracy: float
    macro_f1: float
    pearson_r: float
    cpu_us: float  # CPU microseconds per text
    confidence: float | None = None  # mean confidence of the chosen labels
    calibration_error: float | None = None  # expected calibration error, 10 bins


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    if len(x) < 2 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def calibration_error(confidences: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: |accuracy - confidence| per bin, weighted by its size."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidences, edges) - 1, 0, bins - 1)
    error = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            error += inside.mean() * abs(correct[inside].mean() - confidences[inside].mean())
    return float(error)


def evaluate(analyser: SentimentAnalyser, rows: Sequence[Rated]) -> Result:
    start = time.process_time()
    scored = [score_text(analyser, row.text, BAND) for row in rows]
    elapsed = time.process_time() - start
    truth = [row.label for row in rows]
    predicted = [s.label for s in scored]
    confidences = [s.confidence for s in scored]
    mean_confidence = error = None
    if all(c is not None for c in confidences):
        correct = np.array([t == p for t, p in zip(truth, predicted, strict=True)])
        mean_confidence = float(np.mean(confidences))
        error = calibration_error(np.array(confidences), correct)
    return Result(
        accuracy=float(accuracy_score(truth, predicted)),
        macro_f1=float(f1_score(truth, predicted, labels=LABELS, average="macro", zero_division=0)),
        pearson_r=pearson([s.polarity for s in scored], [row.rating for row in rows]),
        cpu_us=elapsed / len(rows) * 1e6,
        confidence=mean_confidence,
        calibration_error=error,
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
        "--part",
        choices=["test", "all"],
        default="test",
        help="test: the held-out 20%% of each set (default); all: every row",
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
    if "vader" not in names:
        names.append("vader")  # the baseline every figure is compared with
    analysers = [get_analyser(name) for name in names]
    for analyser in analysers:
        score_text(analyser, "warm up: load the lexicon before timing", BAND)

    print("Sentiment analysers against mean human ratings (VADER paper sets)")
    part = "held-out test part (20%)" if args.part == "test" else "every row (not held out)"
    print(
        f"rows: {part}; labels: positive >= {BAND.positive_threshold}, "
        f"negative <= {BAND.negative_threshold} (chorus: its own label)"
    )
    print(f"configured analyser (config.yaml sentiment.analyser): {configured}")
    print(f"machine: {machine()}")
    if args.limit:
        print(f"first {args.limit} texts of each set")
    print()
    header = (
        f"{'set':<8} {'texts':>6}  {'analyser':<9} {'accuracy':>8} {'macro-F1':>8} "
        f"{'vs VADER':>8} {'Pearson r':>9} {'CPU us/text':>11}"
    )
    print(header)
    print("-" * len(header))
    short: list[str] = []
    for name, path in paths.items():
        try:
            rows = load_set(path)
        except ValueError as error:
            print(f"bench/sentiment.py: {error}", file=sys.stderr)
            return 2
        if args.part == "test":
            rows = split(rows, "test", name)
        rows = rows[: args.limit] if args.limit else rows
        results = {analyser.name: evaluate(analyser, rows) for analyser in analysers}
        vader = results["vader"]
        for analyser_name, result in results.items():
            margin = result.macro_f1 - vader.macro_f1
            print(
                f"{name:<8} {len(rows):>6}  {analyser_name:<9} {result.accuracy:>8.3f} "
                f"{result.macro_f1:>8.3f} {margin:>+8.3f} {result.pearson_r:>9.3f} "
                f"{result.cpu_us:>11.0f}"
            )
            if result.confidence is not None:
                print(
                    f"{'':<17} calibration: mean confidence {result.confidence:.3f}, "
                    f"accuracy {result.accuracy:.3f}, expected calibration error "
                    f"{result.calibration_error:.3f}"
                )
            if analyser_name == "chorus" and margin < TARGET_MARGIN:
                short.append(f"{name} ({margin:+.3f})")
    if "chorus" in results:
        print()
        print(
            f"target: chorus at least VADER + {TARGET_MARGIN:.2f} macro-F1 on every set: "
            + ("met" if not short else "NOT met on " + ", ".join(short))
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
