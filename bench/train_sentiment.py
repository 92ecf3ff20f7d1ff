"""Train Chorus's sentiment model (handlers/enrich/model/sentiment.npz) from open data.

    python bench/train_sentiment.py            # train, tune on dev, write the model
    python bench/train_sentiment.py --check    # train and compare with the shipped file

Data (see bench/sentiment_data.py): the train parts of VADER's four human-rated sets (MIT)
and all of UCI's Sentiment Labelled Sentences (CC BY 4.0). The dev parts choose the
regularisation, the bias towards "neutral" and the temperature that calibrates the
confidence; the test parts are never read here. Every step is deterministic (fixed splits,
a fixed solver, no sampling), so the same data gives the same file.

Model: multinomial logistic regression over the features of
handlers/enrich/model/features.py (words with negation marks, word pairs, VADER's
scores and lexicon). Scoring it is a sum of weight rows: no scikit-learn at
run time.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import sparse
from sentiment_data import (  # bench/sentiment_data.py
    DEFAULT_DATA,
    SETS,
    Rated,
    load_set,
    load_uci,
    split,
)
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from handlers.enrich.model import MODEL_LABELS, MODEL_PATH, SentimentModel
from handlers.enrich.model.features import NUMBERS, features

GROUPS = ("words", "pairs")
MIN_COUNT = {"words": 2, "pairs": 2}
C_GRID = (0.5, 1.0, 2.0)
NEUTRAL_BIAS_GRID = tuple(np.round(np.arange(-1.0, 2.01, 0.1), 2))
TEMPERATURE_GRID = tuple(np.round(np.arange(0.5, 3.01, 0.05), 2))


def vocabulary(featured: Sequence) -> dict[str, list[str]]:
    vocab = {}
    for group in GROUPS:
        counts = Counter(name for item in featured for name in set(getattr(item, group)))
        vocab[group] = sorted(name for name, n in counts.items() if n >= MIN_COUNT[group])
    return vocab


def matrix(featured: Sequence, vocab: dict[str, list[str]]) -> sparse.csr_matrix:
    """The same numbers SentimentModel builds at run time, as one sparse matrix."""
    offsets, index = 0, {}
    for group in GROUPS:
        index[group] = {name: offsets + i for i, name in enumerate(vocab[group])}
        offsets += len(vocab[group])
    rows, cols, values = [], [], []
    for row, item in enumerate(featured):
        for group in GROUPS:
            known = sorted({index[group][n] for n in getattr(item, group) if n in index[group]})
            if known:
                rows += [row] * len(known)
                cols += known
                values += [1 / np.sqrt(len(known))] * len(known)
        for j, number in enumerate(item.numbers):
            rows.append(row)
            cols.append(offsets + j)
            values.append(number)
    shape = (len(featured), offsets + len(NUMBERS))
    return sparse.csr_matrix((values, (rows, cols)), shape=shape, dtype=np.float64)


def labels_of(rows: Sequence[Rated]) -> np.ndarray:
    return np.array([MODEL_LABELS.index(row.label) for row in rows])


def macro_f1(truth: np.ndarray, logits: np.ndarray, neutral_bias: float) -> float:
    adjusted = logits.copy()
    adjusted[:, MODEL_LABELS.index("neutral")] += neutral_bias
    return float(
        f1_score(truth, adjusted.argmax(1), labels=range(3), average="macro", zero_division=0)
    )


def log_loss(truth: np.ndarray, logits: np.ndarray) -> float:
    shifted = logits - logits.max(1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    return float(-log_probs[np.arange(len(truth)), truth].mean())


def train(data: Path) -> tuple[dict, dict]:
    train_rows: list[Rated] = []
    dev: dict[str, list[Rated]] = {}
    for name, filename in SETS.items():
        rows = load_set(data / filename)
        train_rows += split(rows, "train", name)
        dev[name] = split(rows, "dev", name)
    uci = load_uci()
    train_rows += uci
    print(f"training texts: {len(train_rows):,} ({len(uci):,} of them UCI)")
    featured = [features(row.text) for row in train_rows]
    vocab = vocabulary(featured)
    print("vocabulary: " + ", ".join(f"{g} {len(vocab[g]):,}" for g in GROUPS))
    x_train, y_train = matrix(featured, vocab), labels_of(train_rows)
    dev_x = {name: matrix([features(r.text) for r in rows], vocab) for name, rows in dev.items()}
    dev_y = {name: labels_of(rows) for name, rows in dev.items()}
    best = None
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced", tol=1e-4)
        model.fit(x_train, y_train)
        print(f"  C={c}: fitted in {model.n_iter_[0]} iterations")
        logits = {name: model.decision_function(x) for name, x in dev_x.items()}
        for bias in NEUTRAL_BIAS_GRID:
            # The weakest set decides: the target is a margin on every set, not the mean.
            scores = [macro_f1(dev_y[n], logits[n], bias) for n in dev]
            key = (min(scores), float(np.mean(scores)))
            if best is None or key > best[0]:
                best = (key, c, float(bias), model, logits)
    (worst, mean), c, bias, model, logits = best
    print(
        f"chosen on dev: C={c}, neutral bias {bias:+.2f}; dev macro-F1 worst {worst:.3f}, "
        f"mean {mean:.3f}"
    )
    all_logits = np.vstack([logits[n] for n in dev])
    all_logits[:, MODEL_LABELS.index("neutral")] += bias
    all_truth = np.concatenate([dev_y[n] for n in dev])
    temperature = min(TEMPERATURE_GRID, key=lambda t: log_loss(all_truth, all_logits / t))
    print(f"temperature (dev log-loss): {temperature}")
    bias_vector = model.intercept_.astype(np.float64).copy()
    bias_vector[MODEL_LABELS.index("neutral")] += bias
    weights = {
        "labels": np.array(MODEL_LABELS),
        "words": np.array(vocab["words"]),
        "pairs": np.array(vocab["pairs"]),
        "weights": model.coef_.T.astype(np.float32),
        "bias": bias_vector.astype(np.float32),
        "temperature": np.array(temperature, dtype=np.float32),
    }
    card = {
        "C": c,
        "neutral_bias": bias,
        "temperature": float(temperature),
        "training_texts": len(train_rows),
        "dev_macro_f1": {n: round(macro_f1(dev_y[n], logits[n], bias), 4) for n in dev},
    }
    return weights, card


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help=f"folder with VADER's rated .tsv sets (default: {DEFAULT_DATA})",
    )
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help="where to write the model")
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write: say whether training reproduces the shipped model",
    )
    args = parser.parse_args(argv)
    missing = [f for f in SETS.values() if not (args.data / f).is_file()]
    if missing:
        print(f"train_sentiment.py: missing in {args.data}: {', '.join(missing)}", file=sys.stderr)
        return 2
    weights, card = train(args.data)
    weights["card"] = np.array(json.dumps(card, sort_keys=True))
    if args.check:
        shipped = SentimentModel.load(args.out)
        same = shipped.same_as(weights)
        print("the shipped model is reproduced exactly" if same else "DIFFERENT from shipped")
        return 0 if same else 1
    np.savez_compressed(args.out, **weights)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
