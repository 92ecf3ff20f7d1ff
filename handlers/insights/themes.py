"""Grouping ideas into themes, as analysts coding contributions did by hand.

Method: TF-IDF of the ideas' words, then non-negative matrix factorisation (NMF,
scikit-learn). Why NMF rather than clustering:

- NMF splits the term matrix into additive parts; each part is a weighted list of
  words, so each idea has a weight per theme, and the ideas that weigh most are its
  natural representatives.
- On one-line ideas, k-means on TF-IDF puts most ideas in one large cluster: on the
  labelled set in tests/test_themes.py (40 ideas, 4 known topics) k-means scores an
  adjusted Rand index of 0.22 with 26 of 40 ideas in one cluster; NMF 0.74. LDA needs
  longer documents than one-line ideas.
- NMF with the nndsvda start is deterministic: the same ideas give the same themes.

What makes the themes mean something (issue 15), measured by bench/themes.py against
human coding:

- Generic evaluative words (good, great, helpful, caring, excellent, friendly,
  professional, rude, terrible ...) are not topic words: left in, they split the same
  praise into one theme per adjective and pull complaints and praise about different
  things together. They are left out of the term matrix; an idea that has nothing else
  ("Very friendly and helpful") goes into one theme, GENERAL_LABEL.
- Near-identical themes are merged: two NMF parts whose word weights have a cosine of
  MERGE_SIMILARITY or more become one theme.
- A theme's label is a short phrase from its own ideas: the word pair (two neighbouring
  words, neither a stop word) most typical of the theme, i.e. common inside it and rare
  outside it ("waiting times", "self referral"); when no pair recurs, its top two words.
- Themes are per question (the caller clusters one question's ideas at a time) and their
  sentiment mix is counted from the ideas' labels (handlers/insights/theme_runs.py).

The number of themes is sqrt(ideas / 2), between 2 and 12, before merging: enough to tell
topics apart, few enough to read on a phone. Large questions fit the model on a sample of
20,000 ideas and place every idea with it.

Theme numbers are stable: a new theme that mostly holds the ideas of an old one (best
one-to-one match by overlap, Jaccard 0.3 or more) keeps its number, so the team's names
for themes and the ideas they moved (pins) survive re-clustering. A theme that holds
pinned ideas but matches nothing new is carried over with just those ideas.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

METHOD = "tfidf-nmf-merged"
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
# Words that judge rather than name a topic: they never make a theme of their own.
GENERIC_WORDS = frozenset(
    {
        "good", "great", "excellent", "amazing", "awesome", "brilliant", "fantastic",
        "wonderful", "lovely", "nice", "perfect", "best", "better", "worst", "worse", "bad",
        "poor", "terrible", "awful", "horrible", "dreadful", "disappointing",
        "disappointed", "helpful", "unhelpful", "caring", "uncaring", "friendly",
        "unfriendly", "professional", "unprofessional", "kind", "kindness", "polite",
        "rude", "courteous", "supportive", "pleasant", "happy", "unhappy", "pleased",
        "satisfied", "love", "loved", "loves", "liked", "hate", "hated", "recommend",
        "recommended", "highly", "very", "really", "well", "thank", "thanks", "thankyou",
        "fine", "ok", "okay", "overall", "everything", "nothing", "always", "never",
        "quite", "extremely", "absolutely", "definitely", "impressed", "outstanding",
        "superb", "fab", "efficient", "exceptional", "marvellous",
        "attentive", "considerate", "compassionate", "respectful", "reassuring",
        "informative", "knowledgeable", "approachable", "welcoming", "experience",
        "beautiful", "sweet", "wow", "fun", "enjoyed", "enjoy", "favorite",
        "favourite", "waste", "disappointment", "mediocre", "average", "decent", "sucks",
        "stupid", "worthless", "useless", "pretty", "totally", "completely", "sure",
        "ever", "didn", "don", "doesn", "isn", "wasn", "won", "ve", "ll",
    }
)  # fmt: skip
GENERAL_LABEL = "general comments (no topic named)"
MERGE_SIMILARITY = 0.4


CHUNK = 25_000  # ideas placed at a time, so a large question never sits in one matrix


@dataclass(frozen=True)
class Clustering:
    """Each idea's theme, as arrays in the order the ideas were given (a large question
    has hundreds of thousands: plain tuples would cost several times the memory)."""

    ideas: np.ndarray  # idea ids (int64)
    themes: np.ndarray  # theme index of each idea; -1 when it has no word the model knows
    weights: np.ndarray  # how much the idea weighs in its theme (float32)
    terms: list[list[str]]  # the top terms of each theme index
    labels: list[str] = field(default_factory=list)  # each theme index's readable label

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

    def label(self, index: int) -> str:
        if index < len(self.labels):
            return self.labels[index]
        return label_of(self.terms[index])


def theme_count(ideas: int) -> int:
    return max(2, min(MAX_THEMES, round(math.sqrt(ideas / 2))))


def _ids(ideas: Sequence[tuple]) -> np.ndarray:
    return np.fromiter((item[0] for item in ideas), dtype=np.int64, count=len(ideas))


def _nothing(ideas: Sequence[tuple]) -> Clustering:
    ids = _ids(ideas)
    return Clustering(ids, np.full(len(ids), -1, np.int32), np.zeros(len(ids), np.float32), [])


TOKEN_PATTERN = r"(?u)\b[^\W\d_][^\W\d_]+\b"


def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS | CONSULTATION_STOP_WORDS | GENERIC_WORDS)


def merge_groups(components: np.ndarray, similarity: float = MERGE_SIMILARITY) -> np.ndarray:
    """Group of each NMF part after merging parts whose word weights are alike (cosine at
    or above `similarity`), transitively; groups numbered 0, 1, 2 ... by first part."""
    norms = np.linalg.norm(components, axis=1, keepdims=True)
    unit = components / np.where(norms > 0, norms, 1)
    alike = unit @ unit.T >= similarity
    group = np.arange(len(components))
    for i in range(len(components)):  # a handful of parts: a plain union-find is enough
        for j in np.flatnonzero(alike[i]):
            low, high = sorted((group[i], group[j]))
            group[group == high] = low
    return np.unique(group, return_inverse=True)[1]


def pair_labels(
    texts: Sequence[str],
    themes: np.ndarray,
    terms: Sequence[Sequence[str]],
    stop_words: frozenset[str],
) -> list[str | None]:
    """Each theme's most typical word pair: found in at least two of its ideas (and in a
    tenth of them, for a large theme), scored by how often it is in the theme times the
    share of its uses that are in the theme, and more when its words are among the
    theme's top terms. None when no pair qualifies."""
    count = len(terms)
    from sklearn.feature_extraction.text import CountVectorizer

    placed = np.flatnonzero(themes >= 0)
    if not len(placed):
        return [None] * count

    def pairs(text: str) -> list[str]:
        words = [w.lower() for w in re.findall(TOKEN_PATTERN, text)]
        return [
            f"{a} {b}"
            for a, b in zip(words, words[1:], strict=False)
            if a not in stop_words and b not in stop_words and a != b
        ]

    try:
        counts = CountVectorizer(analyzer=pairs, binary=True).fit(
            [texts[int(i)] for i in placed]
        )
    except ValueError:  # no pair at all
        return [None] * count
    matrix = counts.transform([texts[int(i)] for i in placed]).tocsc()
    names = counts.get_feature_names_out()
    membership = np.zeros((count, len(placed)))
    membership[themes[placed], np.arange(len(placed))] = 1
    inside = np.asarray((matrix.T @ membership.T).T)  # theme x pair: ideas using it
    overall = np.asarray(matrix.sum(0)).ravel()
    sizes = membership.sum(1)
    labels: list[str | None] = []
    for theme in range(count):
        needed = max(2, math.ceil(sizes[theme] / 10))
        rank = {word: i for i, word in enumerate(terms[theme])}
        central = np.array(
            [sum(1 - rank[w] / len(rank) for w in name.split() if w in rank) for name in names]
        )
        typical = inside[theme] ** 2 / np.maximum(overall, 1) * (1 + central)
        score = np.where(inside[theme] >= needed, typical, 0)
        best = int(score.argmax()) if len(score) else 0
        labels.append(str(names[best]) if len(score) and score[best] > 0 else None)
    return labels


def cluster(ideas: Sequence[tuple], *, themes: int | None = None) -> Clustering:
    """Themes of ideas given as (id, text, ...) tuples. CPU work: run it in a thread."""
    # scikit-learn is imported here, not at the top: it takes seconds, and most
    # processes (the CLI, a webhook worker) never cluster anything.
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer

    if len(ideas) < MIN_IDEAS:
        return _nothing(ideas)
    stop_words = _stop_words()
    vectorizer = TfidfVectorizer(
        stop_words=sorted(stop_words),
        token_pattern=TOKEN_PATTERN,
        sublinear_tf=True,
        min_df=2 if len(ideas) >= 200 else 1,
        max_df=0.5 if len(ideas) >= 50 else 1.0,
        max_features=20_000,
    )
    picks: Sequence[int] = range(len(ideas))
    if len(ideas) > FIT_SAMPLE:
        picks = sorted(np.random.default_rng(0).choice(len(ideas), FIT_SAMPLE, replace=False))
    try:
        sample = vectorizer.fit_transform([ideas[i][1] for i in picks])
    except ValueError:  # no word left after stop words
        return _general_only(ideas)
    vocabulary = vectorizer.get_feature_names_out()
    count = min(themes or theme_count(len(ideas)), len(vocabulary), len(ideas))
    model = NMF(n_components=count, init="nndsvda", random_state=0, max_iter=400)
    with warnings.catch_warnings():
        # Stopping at max_iter still gives usable themes; it is not worth a warning.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(sample)
        del sample
        group = merge_groups(model.components_)
        merged = np.zeros((group.max() + 1, count))
        merged[group, np.arange(count)] = 1
        best = np.empty(len(ideas), np.int32)
        strength = np.empty(len(ideas), np.float32)
        for start in range(0, len(ideas), CHUNK):
            texts = [item[1] for item in ideas[start : start + CHUNK]]
            weights = model.transform(vectorizer.transform(texts)) @ merged.T
            best[start : start + len(texts)] = weights.argmax(axis=1)
            strength[start : start + len(texts)] = weights.max(axis=1)
    placed = strength > 0
    general = ~placed & _judged(ideas, stop_words)
    used = np.unique(best[placed])
    # Theme indexes count only the themes some idea is placed in: 0, 1, 2 ...
    index = np.full(len(merged), -1, np.int32)
    index[used] = np.arange(len(used), dtype=np.int32)
    themes_of = np.where(placed, index[best], -1).astype(np.int32)
    components = merged @ model.components_
    terms = [
        [str(vocabulary[j]) for j in np.argsort(components[theme])[::-1][:8]]
        for theme in used
    ]
    pairs = pair_labels([item[1] for item in ideas], themes_of, terms, stop_words)
    labels = [pair or label_of(words, 2) for pair, words in zip(pairs, terms, strict=True)]
    if general.any():
        themes_of[general] = len(used)
        terms.append([])
        labels.append(GENERAL_LABEL)
    weights_of = np.where(placed, strength, 0).astype(np.float32)
    return Clustering(_ids(ideas), themes_of, weights_of, terms, labels)


def _judged(ideas: Sequence[tuple], stop_words: frozenset[str]) -> np.ndarray:
    """Which ideas use a generic evaluative word (and so say something, if no topic)."""
    return np.fromiter(
        (
            any(w.lower() in GENERIC_WORDS for w in re.findall(TOKEN_PATTERN, item[1]))
            for item in ideas
        ),
        dtype=bool,
        count=len(ideas),
    )


def _general_only(ideas: Sequence[tuple]) -> Clustering:
    found = _nothing(ideas)
    general = _judged(ideas, _stop_words())
    if not general.any():
        return found
    themes = np.where(general, 0, -1).astype(np.int32)
    return Clustering(found.ideas, themes, found.weights, [[]], [GENERAL_LABEL])


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


def label_of(terms: Sequence[str], count: int = TERMS_IN_LABEL) -> str:
    return ", ".join(terms[:count]) or "unlabelled"
