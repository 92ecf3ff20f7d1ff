"""Train Chorus's sentiment model (handlers/enrich/model/sentiment.npz) from open data.

    python bench/train_sentiment.py            # train, tune by cross-validation, write
    python bench/train_sentiment.py --check    # train and compare with the shipped file

Data (see bench/sentiment_data.py): the train and dev parts (80%) of VADER's four
human-rated sets (MIT) and all of UCI's Sentiment Labelled Sentences (CC BY 4.0). The test
parts (20%) are never read here. Tuning is by 5-fold cross-validation over those 80%, with
folds fixed by the split's seed: every row gets logits from models that never saw it, and
those choose the biases towards "positive" and "neutral" and the temperature that
calibrates the confidence (and, once, the regularisation and the sets' weights). Every
step is deterministic (fixed splits and folds, a fixed solver, no sampling), so the same
data gives the same file.

Model, two steps (handlers/enrich/model/):
  1. words: multinomial logistic regression over the features of features.py (words with
     negation marks, word pairs, VADER's scores and lexicon, and the mean GloVe vector of
     the words: the vectors themes use, handlers/insights/word_vectors.npz, PDDL 1.0): a
     sum of weight rows, the mean vector's weights folded into three numbers per word;
  2. mix: a small logistic regression over `mix_inputs` (step 1's logits, VADER's numbers,
     the text's style and their products), fitted on step 1's cross-validated logits, so
     it learns where VADER is the better judge (tweets) and where the words are (reviews).
     Each VADER set weighs the same in this step whatever its size (tweets TWEETS_WEIGHT
     times more), and a bias per label (towards positive and towards neutral) is chosen so
     that the weakest set, measured against its goal (GOALS: VADER + 0.10 on the review
     sets, VADER itself on tweets and editorials), does best.
No scikit-learn at run time.
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
    SPLIT_SEED,
    Rated,
    load_set,
    load_uci,
    split,
)
from sklearn.linear_model import LogisticRegression

from handlers.enrich.model import MODEL_LABELS, MODEL_PATH, SentimentModel
from handlers.enrich.model.features import NUMBERS, features, mix_inputs
from handlers.insights.word_vectors import VECTORS

GROUPS = ("words", "pairs")
MIN_COUNT = {"words": 2, "pairs": 2}
FOLDS = 5
# Chosen by the same cross-validation among 0.5, 1 and 2 (worst margin over VADER).
C_WORDS = 0.5
C_MIX = 1.0
# Macro-F1 margins over VADER the bias is chosen for: the issue's +0.10 where it is within
# reach, and "not worse than VADER" on tweets (VADER's own) and editorials.
GOALS = {"tweets": 0.0, "movie": 0.10, "amazon": 0.10, "nyt": 0.0}
# Step 2 weighs every set alike; tweets this much more (chosen by the same
# cross-validation among 1 and 1.5: the weakest set against its goal).
TWEETS_WEIGHT = 1.5
# How much the mean GloVe vector of a text's words weighs against the other features in
# step 1 (chosen by the same cross-validation among 0.3, 1 and 3).
MEANING_SCALE = 0.3
NEUTRAL_BIAS_GRID = tuple(np.round(np.arange(-1.0, 1.01, 0.05), 2))
POSITIVE_BIAS_GRID = tuple(np.round(np.arange(-0.5, 1.01, 0.05), 2))
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


def glove() -> tuple[list[str], np.ndarray]:
    """The words and vectors themes use (GloVe 6B 50d, PDDL 1.0; see word_vectors.py)."""
    with np.load(VECTORS) as stored:
        return str(stored["words"]).split("\n"), stored["vectors"].astype(np.float64)


def meaning_matrix(featured: Sequence, words: list[str], vectors: np.ndarray) -> np.ndarray:
    """Each text's mean GloVe vector over its meaning words (zeros if none), scaled."""
    index = {word: i for i, word in enumerate(words)}
    means = np.zeros((len(featured), vectors.shape[1]))
    for row, item in enumerate(featured):
        known = [index[word] for word in item.meaning if word in index]
        if known:
            means[row] = vectors[known].mean(0)
    return MEANING_SCALE * means


def labels_of(rows: Sequence[Rated]) -> np.ndarray:
    return np.array([MODEL_LABELS.index(row.label) for row in rows])


def biased(logits: np.ndarray, positive_bias: float, neutral_bias: float) -> np.ndarray:
    adjusted = logits.copy()
    adjusted[:, MODEL_LABELS.index("positive")] += positive_bias
    adjusted[:, MODEL_LABELS.index("neutral")] += neutral_bias
    return adjusted


def macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Macro-F1 over the three labels (as sklearn's, from one confusion matrix: fast
    enough to search a grid of biases)."""
    confusion = np.bincount(truth * 3 + predicted, minlength=9).reshape(3, 3)
    both = confusion.sum(0) + confusion.sum(1)
    return float(np.mean(np.where(both > 0, 2 * np.diag(confusion) / np.maximum(both, 1), 0)))


def log_loss(truth: np.ndarray, logits: np.ndarray) -> float:
    shifted = logits - logits.max(1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    return float(-log_probs[np.arange(len(truth)), truth].mean())


def cv_folds(count: int, name: str) -> np.ndarray:
    """Each row's cross-validation fold (0..FOLDS-1), fixed by the split's seed."""
    order = np.random.default_rng([SPLIT_SEED, list(SETS).index(name), FOLDS])
    return order.permutation(count) % FOLDS


def word_model(x: sparse.csr_matrix, y: np.ndarray) -> LogisticRegression:
    model = LogisticRegression(C=C_WORDS, max_iter=3000, class_weight="balanced", tol=1e-4)
    return model.fit(x, y)


def mix_model(z: np.ndarray, y: np.ndarray, weight: np.ndarray) -> LogisticRegression:
    model = LogisticRegression(C=C_MIX, max_iter=5000, class_weight="balanced")
    return model.fit(z, y, sample_weight=weight)


def set_weights(set_of: np.ndarray) -> np.ndarray:
    """Each row's weight in step 2: every set the same total, tweets TWEETS_WEIGHT times."""
    weight = np.zeros(len(set_of))
    for name in SETS:
        inside = set_of == name
        weight[inside] = len(set_of) / len(SETS) / inside.sum()
    weight[set_of == "tweets"] *= TWEETS_WEIGHT
    return weight


def vader_macro_f1(truth: np.ndarray, numbers: np.ndarray) -> float:
    """VADER's compound labelled with the ±0.05 band, as bench/sentiment.py does."""
    compound = numbers[:, NUMBERS.index("vader_compound")]
    predicted = np.where(compound >= 0.05, 0, np.where(compound <= -0.05, 1, 2))
    return macro_f1(truth, predicted)


def train(data: Path) -> tuple[dict, dict]:
    pool: list[Rated] = []  # the train and dev parts of VADER's sets: cross-validated
    folds: list[np.ndarray] = []
    set_of: list[str] = []
    for name, filename in SETS.items():
        rows = load_set(data / filename)
        part = split(rows, "train", name) + split(rows, "dev", name)
        pool += part
        folds.append(cv_folds(len(part), name))
        set_of += [name] * len(part)
    uci = load_uci()
    train_rows = pool + uci
    print(f"training texts: {len(train_rows):,} ({len(uci):,} of them UCI)")
    featured = [features(row.text) for row in train_rows]
    vocab = vocabulary(featured)
    print("vocabulary: " + ", ".join(f"{g} {len(vocab[g]):,}" for g in GROUPS))
    meaning_vocab, vectors = glove()
    meaning = meaning_matrix(featured, meaning_vocab, vectors)
    x = sparse.hstack([matrix(featured, vocab), sparse.csr_matrix(meaning)]).tocsr()
    y = labels_of(train_rows)
    glove_columns = slice(x.shape[1] - vectors.shape[1], x.shape[1])
    pooled = len(pool)
    fold = np.concatenate([*folds, np.full(len(uci), -1)])  # UCI: always in training
    numbers = np.array([item.numbers for item in featured[:pooled]])
    style = np.array([item.style for item in featured[:pooled]])
    # Step 1, cross-validated: each pooled row's word logits from a model that never saw it.
    word_logits = np.zeros((pooled, len(MODEL_LABELS)))
    for k in range(FOLDS):
        model = word_model(x[fold != k], y[fold != k])
        word_logits[fold[:pooled] == k] = model.decision_function(x[:pooled][fold[:pooled] == k])
        print(f"  word model, fold {k}: fitted in {model.n_iter_[0]} iterations")
    inputs = mix_inputs(word_logits, numbers, style)
    mean, scale = inputs.mean(0), inputs.std(0)
    scale[scale == 0] = 1.0
    z, y_pool = (inputs - mean) / scale, y[:pooled]
    weight = set_weights(np.array(set_of))
    # Step 2, cross-validated on the same folds: the logits that choose bias and temperature.
    logits = np.zeros((pooled, len(MODEL_LABELS)))
    for k in range(FOLDS):
        inside = fold[:pooled] == k
        model = mix_model(z[~inside], y_pool[~inside], weight[~inside])
        logits[inside] = model.decision_function(z[inside])
    sets = {name: np.array(set_of) == name for name in SETS}
    vader = {name: vader_macro_f1(y_pool[m], numbers[m]) for name, m in sets.items()}
    best = None
    for positive_bias in POSITIVE_BIAS_GRID:
        for neutral_bias in NEUTRAL_BIAS_GRID:
            predicted = biased(logits, positive_bias, neutral_bias).argmax(1)
            scores = {n: macro_f1(y_pool[m], predicted[m]) for n, m in sets.items()}
            margins = {n: scores[n] - vader[n] for n in SETS}
            # The set furthest below its goal decides, then the mean margin over VADER.
            key = (min(margins[n] - GOALS[n] for n in SETS), float(np.mean(list(margins.values()))))
            if best is None or key > best[0]:
                best = (key, (float(positive_bias), float(neutral_bias)), scores)
    _, (positive_bias, neutral_bias), scores = best
    print(
        f"chosen by {FOLDS}-fold cross-validation: positive bias {positive_bias:+.2f}, "
        f"neutral bias {neutral_bias:+.2f}; "
        + ", ".join(f"{n} {scores[n]:.3f} ({scores[n] - vader[n]:+.3f})" for n in SETS)
    )
    adjusted = biased(logits, positive_bias, neutral_bias)
    temperature = min(TEMPERATURE_GRID, key=lambda t: log_loss(y_pool, adjusted / t))
    print(f"temperature (cross-validated log-loss): {temperature}")
    words = word_model(x, y)
    mix = mix_model(z, y_pool, weight)
    mix_bias = biased(mix.intercept_.astype(np.float64)[None, :], positive_bias, neutral_bias)[0]
    weights = {
        "labels": np.array(MODEL_LABELS),
        "words": np.array(vocab["words"]),
        "pairs": np.array(vocab["pairs"]),
        "weights": words.coef_.T[: glove_columns.start].astype(np.float32),
        # The mean vector's weights folded into each word: mean(v) @ W == mean(v @ W).
        "meaning_words": np.array(meaning_vocab),
        "meaning_weights": (MEANING_SCALE * vectors @ words.coef_.T[glove_columns]).astype(
            np.float32
        ),
        "bias": words.intercept_.astype(np.float32),
        "mix_mean": mean.astype(np.float32),
        "mix_scale": scale.astype(np.float32),
        "mix_weights": mix.coef_.T.astype(np.float32),
        "mix_bias": mix_bias.astype(np.float32),
        "temperature": np.array(temperature, dtype=np.float32),
    }
    card = {
        "C_words": C_WORDS,
        "C_mix": C_MIX,
        "meaning_scale": MEANING_SCALE,
        "folds": FOLDS,
        "neutral_bias": neutral_bias,
        "positive_bias": positive_bias,
        "tweets_weight": TWEETS_WEIGHT,
        "temperature": float(temperature),
        "training_texts": len(train_rows),
        "cv_macro_f1": {n: round(scores[n], 4) for n in SETS},
        "cv_vader_macro_f1": {n: round(vader[n], 4) for n in SETS},
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
