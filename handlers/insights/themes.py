"""Grouping ideas into themes, as analysts coding contributions did by hand.

Method: TF-IDF of the ideas' words, then non-negative matrix factorisation (NMF,
scikit-learn). Why NMF rather than clustering:

- NMF splits the term matrix into additive parts; each part is a weighted list of
  words, so its top terms are a readable label ("waiting, times, scans") and each idea
  has a weight per theme, so the ideas that weigh most are its natural representatives.
- On one-line ideas, k-means on TF-IDF puts most ideas in one large cluster: on the
  labelled set in tests/test_themes.py (40 ideas, 4 known topics) k-means scores an
  adjusted Rand index of 0.22 with 26 of 40 ideas in one cluster; NMF 0.74, with
  themes of 8 to 11 ideas whose top terms name the four topics ("waiting, times",
  "referral, self", "staff, pay, training", "appointments, reminders, text"). LDA
  needs longer documents than one-line ideas.
- NMF with the nndsvda start is deterministic: the same ideas give the same themes.

The number of themes is sqrt(ideas / 2), between 2 and 12: enough to tell topics apart,
few enough to read on a phone. Large questions fit the model on a sample of 20,000
ideas and place every idea with it.

Theme numbers are stable: a new theme that mostly holds the ideas of an old one (best
one-to-one match by overlap, Jaccard 0.3 or more) keeps its number, so the team's names
for themes and the ideas they moved (pins) survive re-clustering. A theme that holds
pinned ideas but matches nothing new is carried over with just those ideas.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

METHOD = "tfidf-nmf"
MAX_THEMES = 12
MIN_IDEAS = 4
FIT_SAMPLE = 20_000
MIN_OVERLAP = 0.3
TERMS_IN_LABEL = 3
# Words every idea in a health consultation uses, which would make every label the same
# (added to scikit-learn's English stop words).
CONSULTATION_STOP_WORDS = frozenset(
    {
        "more", "better", "should", "would", "could", "need", "needs", "make", "get",
        "want", "think", "idea", "ideas", "like", "just", "also", "lot", "really", "use",
        "nhs", "people", "patients", "patient", "help", "able", "good", "new",
    }
)  # fmt: skip


CHUNK = 25_000  # ideas placed at a time, so a large question never sits in one matrix


@dataclass(frozen=True)
class Clustering:
    """Each idea's theme, as arrays in the order the ideas were given (a large question
    has hundreds of thousands: plain tuples would cost several times the memory)."""

    ideas: np.ndarray  # idea ids (int64)
    themes: np.ndarray  # theme index of each idea; -1 when it has no word the model knows
    weights: np.ndarray  # how much the idea weighs in its theme (float32)
    terms: list[list[str]]  # the top terms of each theme index

    @property
    def skipped(self) -> int:
        return int((self.themes < 0).sum())

    @property
    def assignments(self) -> list[tuple[int, int, float]]:
        """(idea id, theme index, weight) of each placed idea; for small sets and tests."""
        placed = np.flatnonzero(self.themes >= 0)
        return [
            (int(self.ideas[i]), int(self.themes[i]), float(self.weights[i])) for i in placed
        ]


def theme_count(ideas: int) -> int:
    return max(2, min(MAX_THEMES, round(math.sqrt(ideas / 2))))


def _ids(ideas: Sequence[tuple]) -> np.ndarray:
    return np.fromiter((item[0] for item in ideas), dtype=np.int64, count=len(ideas))


def _nothing(ideas: Sequence[tuple]) -> Clustering:
    ids = _ids(ideas)
    return Clustering(ids, np.full(len(ids), -1, np.int32), np.zeros(len(ids), np.float32), [])


def cluster(ideas: Sequence[tuple], *, themes: int | None = None) -> Clustering:
    """Themes of ideas given as (id, text, ...) tuples. CPU work: run it in a thread."""
    # scikit-learn is imported here, not at the top: it takes seconds, and most
    # processes (the CLI, a webhook worker) never cluster anything.
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

    if len(ideas) < MIN_IDEAS:
        return _nothing(ideas)
    vectorizer = TfidfVectorizer(
        stop_words=sorted(ENGLISH_STOP_WORDS | CONSULTATION_STOP_WORDS),
        token_pattern=r"(?u)\b[^\W\d_][^\W\d_]+\b",
        sublinear_tf=True,
        min_df=2 if len(ideas) >= 200 else 1,
        max_df=0.5 if len(ideas) >= 50 else 1.0,
        max_features=20_000,
    )
    picks = range(len(ideas))
    if len(ideas) > FIT_SAMPLE:
        picks = sorted(np.random.default_rng(0).choice(len(ideas), FIT_SAMPLE, replace=False))
    try:
        sample = vectorizer.fit_transform([ideas[i][1] for i in picks])
    except ValueError:  # no word left after stop words
        return _nothing(ideas)
    vocabulary = vectorizer.get_feature_names_out()
    count = min(themes or theme_count(len(ideas)), len(vocabulary), len(ideas))
    model = NMF(n_components=count, init="nndsvda", random_state=0, max_iter=400)
    with warnings.catch_warnings():
        # Stopping at max_iter still gives usable themes; it is not worth a warning.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(sample)
        del sample
        best = np.empty(len(ideas), np.int32)
        strength = np.empty(len(ideas), np.float32)
        for start in range(0, len(ideas), CHUNK):
            texts = [item[1] for item in ideas[start : start + CHUNK]]
            weights = model.transform(vectorizer.transform(texts))
            best[start : start + len(texts)] = weights.argmax(axis=1)
            strength[start : start + len(texts)] = weights.max(axis=1)
    placed = strength > 0
    used = np.unique(best[placed])
    # Theme indexes count only the themes some idea is placed in: 0, 1, 2 ...
    index = np.full(count, -1, np.int32)
    index[used] = np.arange(len(used), dtype=np.int32)
    themes_of = np.where(placed, index[best], -1).astype(np.int32)
    terms = [
        [str(vocabulary[j]) for j in np.argsort(model.components_[theme])[::-1][:8]]
        for theme in used
    ]
    weights_of = np.where(placed, strength, 0).astype(np.float32)
    return Clustering(_ids(ideas), themes_of, weights_of, terms)


def match_numbers(
    clustering: Clustering, old_ideas: np.ndarray, old_numbers: np.ndarray
) -> dict[int, int]:
    """new theme index -> old theme number, for pairs that mostly hold the same ideas.
    `old_ideas` (sorted) and `old_numbers` are the previous run's members."""
    from scipy.optimize import linear_sum_assignment

    placed = clustering.themes >= 0
    new_ideas, new_themes = clustering.ideas[placed], clustering.themes[placed]
    if not len(new_ideas) or not len(old_ideas):
        return {}
    new_keys = np.unique(new_themes)
    old_keys, old_index = np.unique(old_numbers, return_inverse=True)
    at = np.minimum(np.searchsorted(old_ideas, new_ideas), len(old_ideas) - 1)
    both = old_ideas[at] == new_ideas
    shared = np.zeros((len(new_keys), len(old_keys)))
    np.add.at(shared, (np.searchsorted(new_keys, new_themes[both]), old_index[at[both]]), 1)
    new_sizes = np.bincount(np.searchsorted(new_keys, new_themes), minlength=len(new_keys))
    old_sizes = np.bincount(old_index, minlength=len(old_keys))
    overlap = shared / (new_sizes[:, None] + old_sizes[None, :] - shared)
    rows, columns = linear_sum_assignment(overlap, maximize=True)
    return {
        int(new_keys[i]): int(old_keys[j])
        for i, j in zip(rows, columns, strict=True)
        if overlap[i, j] >= MIN_OVERLAP
    }


def label_of(terms: Sequence[str]) -> str:
    return ", ".join(terms[:TERMS_IN_LABEL]) or "unlabelled"
