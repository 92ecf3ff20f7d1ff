"""Chorus's own sentiment model: weights shipped in this package, scored with numpy.

`sentiment.npz` is written by bench/train_sentiment.py (two logistic regressions over the
features of features.py, trained on openly licensed human-labelled data: see README's
model card). Scoring a text looks its features up in the vocabulary and adds the matching
weight rows, and the mean of its words' meaning rows (GloVe vectors times their weights,
folded at training into three numbers a word): the word model's three logits; a second,
small step (`mix_inputs`) weighs those logits against VADER's scores by the text's style;
its three sums become probabilities with a softmax whose temperature was fitted on
cross-validated logits, so the confidence means what it says: of texts scored with
confidence 0.8, about 8 in 10 carry that label in people's eyes.
Nothing is downloaded, and scikit-learn is not needed at run time.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from handlers.enrich.model.features import (
    MIX_INPUTS,
    NUMBERS,
    Features,
    features,
    mix_row,
    words_of,
)

MODEL_PATH = Path(__file__).with_name("sentiment.npz")
MODEL_LABELS = ("positive", "negative", "neutral")
GROUPS = ("words", "pairs")


@dataclass(frozen=True)
class Scored:
    label: str  # positive, negative or neutral
    confidence: float  # calibrated probability of that label, 1/3..1
    polarity: float  # P(positive) - P(negative), in [-1, 1]


class SentimentModel:
    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self.labels = tuple(str(label) for label in arrays["labels"])
        if self.labels != MODEL_LABELS:
            raise ValueError(f"sentiment model: labels {self.labels}, expected {MODEL_LABELS}")
        self._index: dict[str, dict[str, int]] = {}
        offset = 0
        for group in GROUPS:
            names = arrays[group].tolist()
            self._index[group] = {name: offset + i for i, name in enumerate(names)}
            offset += len(names)
        self._weights = arrays["weights"].astype(np.float64)
        if self._weights.shape != (offset + len(NUMBERS), len(MODEL_LABELS)):
            raise ValueError(f"sentiment model: weights of shape {self._weights.shape}")
        self._numbers = self._weights[offset:]
        self._bias = arrays["bias"].astype(np.float64)
        meaning = arrays["meaning_weights"].astype(np.float64)
        meaning_words = arrays["meaning_words"].tolist()
        if meaning.shape != (len(meaning_words), len(MODEL_LABELS)):
            raise ValueError(f"sentiment model: meaning weights of shape {meaning.shape}")
        # Below the other rows, so that one product sums a text's rows of both kinds.
        self._meaning_row = {word: offset + i for i, word in enumerate(meaning_words)}
        self._rows = np.vstack([self._weights[:offset], meaning])
        if arrays["mix_weights"].shape != (MIX_INPUTS, len(MODEL_LABELS)):
            raise ValueError(f"sentiment model: mix weights of shape {arrays['mix_weights'].shape}")
        # The second step's standardisation folded into its weights: one product a text.
        scale = arrays["mix_scale"].astype(np.float64)[:, None]
        self._mix_weights = arrays["mix_weights"].astype(np.float64) / scale
        self._mix_bias = arrays["mix_bias"].astype(np.float64) - (
            arrays["mix_mean"].astype(np.float64) @ self._mix_weights
        )
        self._temperature = float(arrays["temperature"])
        # The words the model learnt from: all English, so a short text made of them alone
        # is English even where a language detector cannot tell from so few letters.
        self.english_words = frozenset(n[2:].lstrip("!") for n in self._index["words"])

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> SentimentModel:
        with np.load(path, allow_pickle=False) as stored:
            return cls({name: stored[name] for name in stored.files})

    @property
    def card(self) -> dict:
        return json.loads(str(self.arrays["card"])) if "card" in self.arrays else {}

    def same_as(self, arrays: dict[str, np.ndarray]) -> bool:
        """Same vocabulary and labels, and weights equal to 5 decimals (another BLAS may
        round the last bits of a float differently)."""

        def equal(mine: np.ndarray, theirs: np.ndarray) -> bool:
            if mine.dtype.kind == "f" and theirs.dtype.kind == "f":
                return mine.shape == theirs.shape and np.allclose(mine, theirs, atol=1e-5)
            return np.array_equal(mine, theirs)

        names = set(self.arrays) | set(arrays)
        return all(
            name in self.arrays
            and name in arrays
            and equal(self.arrays[name], np.asarray(arrays[name]))
            for name in names
            if name != "card"
        )

    def word_logits(self, found: Features) -> np.ndarray:
        """The first step: the word model's logits (each group scaled to unit length)."""
        numbers = np.asarray(found.numbers)
        rows: list[int] = []
        scales: list[float] = []
        for group in GROUPS:
            index = self._index[group]
            known = {index[name] for name in getattr(found, group) if name in index}
            if known:
                rows += known
                scales += [len(known) ** -0.5] * len(known)
        # The mean of the meaning rows (repeats count each time, as in training).
        meaning = [self._meaning_row[w] for w in found.meaning if w in self._meaning_row]
        if meaning:
            rows += meaning
            scales += [1 / len(meaning)] * len(meaning)
        total = self._bias + numbers @ self._numbers
        if rows:
            total = total + np.asarray(scales) @ self._rows[rows]
        return total

    def logits(self, text: str) -> np.ndarray:
        """Both steps: the word logits weighed against VADER's numbers by the style."""
        found = features(text)
        inputs = mix_row(self.word_logits(found).tolist(), found.numbers, found.style)
        return self._mix_bias + np.array(inputs) @ self._mix_weights

    def score(self, text: str) -> Scored:
        # The softmax of three numbers in plain Python: faster than numpy's for so few.
        logits = (self.logits(text) / self._temperature).tolist()
        top = max(logits)
        exps = [math.exp(value - top) for value in logits]
        total = sum(exps)
        best = logits.index(top)
        # Four decimals: more would be false precision in the store and the exports.
        return Scored(
            label=MODEL_LABELS[best],
            confidence=round(exps[best] / total, 4),
            polarity=round((exps[0] - exps[1]) / total, 4),
        )

    def knows_every_word(self, text: str) -> bool:
        """True when the text has a word and every word is one the model learnt."""
        words = words_of(text)
        return bool(words) and all(word in self.english_words for word in words)


@cache
def shipped_model() -> SentimentModel:
    """The model shipped in this package, loaded once (about a tenth of a second)."""
    return SentimentModel.load()
