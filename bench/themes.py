"""Benchmark: how far Chorus's themes agree with human coding, today's method beside the new.

Two openly licensed sets of short texts, each coded by people (see bench/datasets/*/README.md):

- banking77: 3,080 customer messages to a bank, coded into 77 intents (CC BY 4.0);
- uci-reviews: the 3,000 one-line reviews of UCI's Sentiment Labelled Sentences (CC BY
  4.0), coded by what they review (phones, restaurants, films): half praise and half
  complaint, full of "great", "good", "bad" ... the words that split patient feedback into
  one theme per adjective.

For each set and method it prints the adjusted mutual information (AMI) between themes
and the human codes, purity (the share of texts whose theme's most common code is their
own), how many themes, how many of them are labelled with a generic evaluative word
("movie, disappointed", "place, love, amazing"), how many texts were left without a theme
(counted as one more group: a method gains nothing by leaving texts out), CPU seconds,
and the new method's ratio to today's. "today" is the method of main before issue 15
(TF-IDF + NMF, three top terms as the label), kept here verbatim; "new" is
handlers/insights/themes.py.

    python bench/themes.py
    python bench/themes.py --sets banking77 --limit 1000
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sentiment_data import UCI_DATA, UCI_SETS  # bench/sentiment_data.py
from sklearn.metrics import adjusted_mutual_info_score

from handlers.insights.themes import GENERIC_WORDS, cluster

REPO = Path(__file__).resolve().parents[1]
BANKING = REPO / "bench" / "datasets" / "banking77" / "test.csv"
TARGET_RATIO = 2.0  # issue 15: twice today's agreement


def load_banking(limit: int | None) -> tuple[list[str], list[str]]:
    with BANKING.open(encoding="utf-8", newline="") as handle:
        rows = [(row["text"], row["category"]) for row in csv.DictReader(handle)]
    return _sample(rows, limit)


def load_uci_reviews(limit: int | None) -> tuple[list[str], list[str]]:
    rows = []
    for filename in UCI_SETS:
        code = filename.split("_")[0]  # amazon, imdb, yelp
        for line in (UCI_DATA / filename).read_text(encoding="utf-8").splitlines():
            text = line.rpartition("\t")[0].strip()
            if text:
                rows.append((text, code))
    return _sample(rows, limit)


def _sample(rows: list[tuple[str, str]], limit: int | None) -> tuple[list[str], list[str]]:
    """A fixed shuffle (seed 0), so a --limit keeps every code, and ideas arrive mixed."""
    order = np.random.default_rng(0).permutation(len(rows))[: limit or len(rows)]
    return [rows[i][0] for i in order], [rows[i][1] for i in order]


SETS: dict[str, Callable[[int | None], tuple[list[str], list[str]]]] = {
    "banking77": load_banking,
    "uci-reviews": load_uci_reviews,
}


# --- today's method, as on main before issue 15 (handlers/insights/themes.py) ----------

TODAY_STOP_WORDS = frozenset(
    {
        "more", "better", "should", "would", "could", "need", "needs", "make", "get",
        "want", "think", "idea", "ideas", "like", "just", "also", "lot", "really", "use",
        "nhs", "people", "patients", "patient", "help", "able", "good", "new",
    }
)  # fmt: skip


def today(texts: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Theme index of each text (-1: none) and each theme's label, as main did it."""
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

    vectorizer = TfidfVectorizer(
        stop_words=sorted(ENGLISH_STOP_WORDS | TODAY_STOP_WORDS),
        token_pattern=r"(?u)\b[^\W\d_][^\W\d_]+\b",
        sublinear_tf=True,
        min_df=2 if len(texts) >= 200 else 1,
        max_df=0.5 if len(texts) >= 50 else 1.0,
        max_features=20_000,
    )
    matrix = vectorizer.fit_transform(texts)
    vocabulary = vectorizer.get_feature_names_out()
    count = min(max(2, min(12, round(math.sqrt(len(texts) / 2)))), len(vocabulary))
    model = NMF(n_components=count, init="nndsvda", random_state=0, max_iter=400)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weights = model.fit_transform(matrix)
    themes = np.where(weights.max(1) > 0, weights.argmax(1), -1)
    labels = [
        ", ".join(str(vocabulary[j]) for j in np.argsort(component)[::-1][:3])
        for component in model.components_
    ]
    return themes, labels


def new(texts: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    found = cluster(list(enumerate(texts)))
    return found.themes, list(found.labels)


METHODS = {"today": today, "new": new}


def purity(truth: Sequence[str], themes: np.ndarray) -> float:
    groups: dict[int, Counter] = {}
    for code, theme in zip(truth, themes.tolist(), strict=True):
        groups.setdefault(theme, Counter())[code] += 1
    return sum(c.most_common(1)[0][1] for c in groups.values()) / len(truth)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help="only N texts of each set (a fixed sample)",
    )
    parser.add_argument(
        "--labels",
        type=int,
        default=6,
        metavar="N",
        help="print the labels of the N largest themes (default 6)",
    )
    args = parser.parse_args(argv)
    print("Themes against human coding: adjusted mutual information (AMI) and purity")
    print()
    header = (
        f"{'set':<12} {'texts':>6} {'codes':>5}  {'method':<6} {'themes':>6} {'generic':>7} "
        f"{'no theme':>8} {'AMI':>6} {'purity':>6} {'CPU s':>6}"
    )
    print(header)
    print("-" * len(header))
    examples: list[str] = []
    short: list[str] = []
    for name in args.sets:
        texts, truth = SETS[name](args.limit)
        scores = {}
        for method, run in METHODS.items():
            start = time.process_time()
            themes, labels = run(texts)
            cpu = time.process_time() - start
            ami = adjusted_mutual_info_score(truth, themes)
            scores[method] = ami
            used = sorted(set(themes.tolist()) - {-1})
            generic = sum(
                bool(set(labels[t].replace(",", " ").split()) & GENERIC_WORDS) for t in used
            )
            print(
                f"{name:<12} {len(texts):>6} {len(set(truth)):>5}  {method:<6} "
                f"{len(used):>6} {generic:>7} {int((themes < 0).sum()):>8} "
                f"{ami:>6.3f} {purity(truth, themes):>6.3f} {cpu:>6.1f}"
            )
            sizes = Counter(t for t in themes.tolist() if t >= 0)
            shown = [f"{labels[t]} ({n})" for t, n in sizes.most_common(args.labels)]
            examples.append(f"{name}, {method}: " + "; ".join(shown))
        ratio = scores["new"] / scores["today"] if scores["today"] > 0 else float("inf")
        print(f"{name:<12} AMI new / today: {ratio:.2f}x")
        if ratio < TARGET_RATIO:
            short.append(f"{name} ({ratio:.2f}x)")
    print()
    print("largest themes' labels:")
    for line in examples:
        print(f"  {line}")
    print()
    print(
        f"target: new at least {TARGET_RATIO:.0f}x today's AMI on every set: "
        + ("met" if not short else "NOT met on " + ", ".join(short))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
