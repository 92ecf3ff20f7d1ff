"""Word meanings for themes: the GloVe vectors shipped in word_vectors.npz, and the vector
of a text made from them.

TF-IDF sees "film" and "movie", or "meal" and "dinner", as unrelated words; in GloVe
(Pennington, Socher and Manning, Stanford NLP, 2014; public domain under PDDL 1.0) words
used in the same contexts lie close together. The file holds the 40,000 most frequent
lower-case words of GloVe 6B, 50 dimensions, float16 (3.9 MB; built by
bench/build_word_vectors.py, which names the source).

A text's vector is the weighted mean of its words' vectors (stop words and generic
evaluative words left out), each word weighted a / (a + p(word)) as in Arora, Liang and
Ma's "simple but tough-to-beat baseline for sentence embeddings" (ICLR 2017): frequent
words count for less. p(word) is taken from the word's frequency rank in GloVe's
vocabulary (Zipf: p proportional to 1 / rank).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

VECTORS = Path(__file__).with_name("word_vectors.npz")
SIF_A = 1e-3  # the "a" of the weighting; chosen on bench/themes.py among 3e-4 ... 3e-3
RANK_OFFSET = 10  # keeps the most frequent words from weighing nothing at all


@cache
def _shipped() -> tuple[tuple[str, ...], np.ndarray]:
    """The words, and their vectors times their weights (float32)."""
    with np.load(VECTORS) as data:
        words = tuple(str(data["words"]).split("\n"))
        vectors = data["vectors"].astype(np.float32)
    rank = np.arange(len(words), dtype=np.float32) + RANK_OFFSET
    weights = SIF_A / (SIF_A + 1 / rank)
    return words, vectors * weights[:, None]


@cache
def _vocabulary(token_pattern: str, stop_words: frozenset[str]) -> tuple[object, np.ndarray]:
    """A counter of the known words that are not stop words, and their weighted vectors."""
    from sklearn.feature_extraction.text import CountVectorizer

    words, weighted = _shipped()
    kept = [i for i, word in enumerate(words) if word not in stop_words]
    counter = CountVectorizer(
        vocabulary={words[i]: n for n, i in enumerate(kept)},
        token_pattern=token_pattern,
        lowercase=True,
        dtype=np.float32,
    )
    return counter, weighted[kept]


def text_vectors(
    texts: Sequence[str], token_pattern: str, stop_words: frozenset[str]
) -> np.ndarray:
    """One unit-length row per text (float32); a row of zeros for a text with no known
    word outside `stop_words`."""
    counter, weighted = _vocabulary(token_pattern, stop_words)
    sums = np.asarray(counter.transform(texts) @ weighted, dtype=np.float32)  # type: ignore[attr-defined]
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return sums / np.where(norms > 0, norms, 1)
