"""The human-labelled sentiment data of bench/sentiment.py and bench/train_sentiment.py,
and the fixed splits that keep a held-out part of each VADER set out of training.

- VADER's four human-rated sets (MIT), in ../shared/data/sentiment/ (see its README):
  each split once, by a fixed seed, into train 70% / dev 10% / test 20%. The model learns
  from train and dev, is tuned (regularisation, label biases, temperature) by 5-fold
  cross-validation over them (bench/train_sentiment.py), and bench/sentiment.py reports
  on test, which nothing else reads.
- UCI's "Sentiment Labelled Sentences" (CC BY 4.0), in bench/datasets/uci-sentiment/: 3,000
  positive or negative sentences, all used for training.

Labels as in the VADER data's README: the mean rating (-4..+4) divided by 4 is positive at
>= 0.05, negative at <= -0.05, neutral between.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "sentiment"
UCI_DATA = REPO / "bench" / "datasets" / "uci-sentiment"
# The README's sets, in its order, with their short names.
SETS = {
    "tweets": "tweets.tsv",
    "movie": "movieReviewSnippets.tsv",
    "amazon": "amazonReviewSnippets.tsv",
    "nyt": "nytEditorialSnippets.tsv",
}
UCI_SETS = ("amazon_cells_labelled.txt", "imdb_labelled.txt", "yelp_labelled.txt")
LABELS = ["positive", "negative", "neutral"]
BAND = 0.05
SPLIT_SEED = 15  # issue 15; changing it changes which rows are held out
SPLITS = {"train": (0.0, 0.7), "dev": (0.7, 0.8), "test": (0.8, 1.0)}


@dataclass(frozen=True)
class Rated:
    rating: float  # mean human rating, -4..+4
    text: str

    @property
    def label(self) -> str:
        return label_of(self.rating / 4)


def label_of(score: float) -> str:
    if score >= BAND:
        return "positive"
    if score <= -BAND:
        return "negative"
    return "neutral"


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


def split(rows: list[Rated], part: str, name: str) -> list[Rated]:
    """The rows of one part (train, dev or test) of a set, the same on every run."""
    low, high = SPLITS[part]
    order = np.random.default_rng([SPLIT_SEED, list(SETS).index(name)]).permutation(len(rows))
    chosen = order[round(low * len(rows)) : round(high * len(rows))]
    return [rows[i] for i in sorted(chosen)]


def load_uci(folder: Path = UCI_DATA) -> list[Rated]:
    """UCI's sentences as ratings of +2 (positive) or -2 (negative): labels only."""
    rows: list[Rated] = []
    for filename in UCI_SETS:
        for line in (folder / filename).read_text(encoding="utf-8").splitlines():
            text, _, label = line.rstrip().rpartition("\t")
            if label in ("0", "1") and text.strip():
                rows.append(Rated(2.0 if label == "1" else -2.0, text.strip()))
    return rows
