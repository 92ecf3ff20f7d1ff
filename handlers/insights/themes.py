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
from collections.abc import Mapping, Sequence
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


@dataclass(frozen=True)
class Clustering:
    assignments: list[tuple[int, int, float]]  # (idea id, theme index, weight)
    terms: list[list[str]]  # the top terms of each theme index
    skipped: int  # ideas with no word the model knows


def theme_count(ideas: int) -> int:
    return max(2, min(MAX_THEMES, round(math.sqrt(ideas / 2))))


def cluster(ideas: Sequence[tuple[int, str]], *, themes: int | None = None) -> Clustering:
    """Themes of (id, text) ideas. CPU work: run it in a thread."""
    # scikit-learn is imported here, not at the top: it takes seconds, and most
    # processes (the CLI, a webhook worker) never cluster anything.
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

    if len(ideas) < MIN_IDEAS:
        return Clustering([], [], len(ideas))
    texts = [text for _id, text in ideas]
    vectorizer = TfidfVectorizer(
        stop_words=sorted(ENGLISH_STOP_WORDS | CONSULTATION_STOP_WORDS),
        token_pattern=r"(?u)\b[^\W\d_][^\W\d_]+\b",
        sublinear_tf=True,
        min_df=2 if len(ideas) >= 200 else 1,
        max_df=0.5 if len(ideas) >= 50 else 1.0,
        max_features=20_000,
    )
    sample = texts
    if len(texts) > FIT_SAMPLE:
        picks = np.random.default_rng(0).choice(len(texts), FIT_SAMPLE, replace=False)
        sample = [texts[i] for i in sorted(picks)]
    try:
        vectorizer.fit(sample)
    except ValueError:  # no word left after stop words
        return Clustering([], [], len(ideas))
    matrix = vectorizer.transform(texts)
    count = min(themes or theme_count(len(ideas)), matrix.shape[1], len(ideas))
    model = NMF(n_components=count, init="nndsvda", random_state=0, max_iter=400)
    with warnings.catch_warnings():
        # Stopping at max_iter still gives usable themes; it is not worth a warning.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(vectorizer.transform(sample) if sample is not texts else matrix)
        weights = model.transform(matrix)
    vocabulary = vectorizer.get_feature_names_out()
    best = weights.argmax(axis=1)
    strength = weights.max(axis=1)
    used = sorted({int(best[i]) for i in range(len(ideas)) if strength[i] > 0})
    index = {theme: position for position, theme in enumerate(used)}
    assignments = [
        (ideas[i][0], index[int(best[i])], float(strength[i]))
        for i in range(len(ideas))
        if strength[i] > 0
    ]
    terms = [
        [str(vocabulary[j]) for j in np.argsort(model.components_[theme])[::-1][:8]]
        for theme in used
    ]
    return Clustering(assignments, terms, len(ideas) - len(assignments))


def match_numbers(
    new_members: Mapping[int, set[int]], old_members: Mapping[int, set[int]]
) -> dict[int, int]:
    """new theme index -> old theme number, for pairs that mostly hold the same ideas."""
    from scipy.optimize import linear_sum_assignment

    new_keys, old_keys = list(new_members), list(old_members)
    if not new_keys or not old_keys:
        return {}
    overlap = np.zeros((len(new_keys), len(old_keys)))
    for i, new in enumerate(new_keys):
        for j, old in enumerate(old_keys):
            union = len(new_members[new] | old_members[old])
            overlap[i, j] = len(new_members[new] & old_members[old]) / union if union else 0
    rows, columns = linear_sum_assignment(overlap, maximize=True)
    return {
        new_keys[i]: old_keys[j]
        for i, j in zip(rows, columns, strict=True)
        if overlap[i, j] >= MIN_OVERLAP
    }


def label_of(terms: Sequence[str]) -> str:
    return ", ".join(terms[:TERMS_IN_LABEL]) or "unlabelled"
