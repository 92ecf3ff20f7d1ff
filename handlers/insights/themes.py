"""Grouping ideas into themes, as analysts coding contributions did by hand.

Method (issue 15, measured by bench/themes.py against human coding):

1. Each idea is placed in a space of its meaning and its words, half and half: the
   weighted mean of its words' GloVe vectors (handlers/insights/word_vectors.py, shipped
   with Chorus), where "film" and "movie", or "meal" and "dinner", lie close; and the
   latent semantic analysis (LSA, 100 dimensions) of its TF-IDF row, where ideas using
   the same words do.
2. Non-negative matrix factorisation (NMF, nndsvda start) of the TF-IDF rows gives the
   first themes; k-means in the space above, started from them, moves each idea to the
   theme whose meaning it shares. Both steps are deterministic: the same ideas give the
   same themes. Started from NMF, k-means finds the four topics of the labelled set in
   tests/test_themes.py as well as NMF alone does (adjusted Rand index 0.74); from
   k-means++ starts it found 0.45, and NMF alone cannot join "film" to "movie" (on UCI's
   one-line reviews, coded by what they review, AMI 0.20 with NMF alone, 0.34 now).
3. Near-identical themes are merged: two themes whose mean word vectors (less the mean
   of all ideas) have a cosine of WORD_MERGE or more are about the same thing; two whose
   mean TF-IDF rows have a cosine of MERGE_SIMILARITY or more use the same words.

What makes the themes mean something:

- Generic evaluative words (good, great, helpful, caring, excellent, friendly,
  professional, rude, terrible ...) are not topic words: left in, they split the same
  praise into one theme per adjective and pull complaints and praise about different
  things together. They are left out of both the words and their vectors; an idea that
  has nothing else ("Very friendly and helpful") goes into one theme, GENERAL_LABEL.
- A theme's label is a short phrase from its own ideas: the word pair (two neighbouring
  words, neither a stop word) most typical of the theme, i.e. common inside it and rare
  outside it ("waiting times", "self referral"); when no pair recurs, its top two words
  (by the mean TF-IDF of its ideas).
- Themes are per question (the caller clusters one question's ideas at a time) and their
  sentiment mix is counted from the ideas' labels (handlers/insights/theme_runs.py).
- An idea's weight in its theme is its closeness (cosine) to the theme's centre, so the
  most central ideas are its representatives.

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
from typing import Any

import numpy as np

METHOD = "glove-lsa-kmeans-merged"
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
# Clusters whose mean word vectors (less the mean of all) have a cosine of this or more
# are about the same thing ("film" and "movie" clusters): chosen on bench/themes.py
# among 0.5 ... 0.8 (0.5 began to join different intents of BANKING77).
WORD_MERGE = 0.6
WORD_SHARE = 0.5  # the GloVe part's weight in the space where ideas are compared
LSA_DIMENSIONS = 100


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
        return [(int(self.ideas[i]), int(self.themes[i]), float(self.weights[i])) for i in placed]

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
    """Group of each part after merging parts that are alike (cosine at or above
    `similarity`), transitively; groups numbered 0, 1, 2 ... by first part."""
    return _union(_alike(components, similarity))


def _alike(rows: np.ndarray, similarity: float) -> np.ndarray:
    unit = _unit(np.asarray(rows, np.float64))
    return np.asarray(unit @ unit.T >= similarity)


def _union(alike: np.ndarray) -> np.ndarray:
    group = np.arange(len(alike))
    for i in range(len(alike)):  # a handful of parts: a plain union-find is enough
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
        counts = CountVectorizer(analyzer=pairs, binary=True).fit([texts[int(i)] for i in placed])
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
        dtype=np.float32,
    )
    picks: Sequence[int] = range(len(ideas))
    if len(ideas) > FIT_SAMPLE:
        picks = sorted(np.random.default_rng(0).choice(len(ideas), FIT_SAMPLE, replace=False))
    sample_texts = [ideas[i][1] for i in picks]
    try:
        sample_terms = vectorizer.fit_transform(sample_texts)
    except ValueError:  # no word left after stop words
        return _general_only(ideas)
    space = _Space(vectorizer, sample_terms, stop_words)
    sample, sample_words = space.features(sample_texts, sample_terms)
    fitted = np.flatnonzero(sample.any(axis=1))
    count = min(themes or theme_count(len(ideas)), len(fitted), sample_terms.shape[1])
    if count < 1:
        return _general_only(ideas)
    found = _kmeans(sample[fitted], sample_terms[fitted], count)
    clusters = int(found.max()) + 1
    group = _union(
        _alike(_centred_means(sample_words[fitted], found, clusters), WORD_MERGE)
        | _alike(_group_means(sample_terms[fitted], found, clusters), MERGE_SIMILARITY)
    )
    centres = _unit(_group_means(sample[fitted], group[found], int(group.max()) + 1))
    del sample, sample_words
    best = np.full(len(ideas), -1, np.int32)
    strength = np.zeros(len(ideas), np.float32)
    term_sums = np.zeros((len(centres), len(vectorizer.vocabulary_)), np.float32)
    for start in range(0, len(ideas), CHUNK):
        texts = [item[1] for item in ideas[start : start + CHUNK]]
        terms_of = vectorizer.transform(texts)
        features, _ = space.features(texts, terms_of)
        known = features.any(axis=1)
        similarity = features @ centres.T
        chosen = similarity.argmax(axis=1)
        rows = slice(start, start + len(texts))
        best[rows] = np.where(known, chosen, -1)
        # The weight is the closeness to the theme's centre; never 0 for a placed idea.
        closeness = np.maximum(similarity[np.arange(len(texts)), chosen], 1e-6)
        strength[rows] = np.where(known, closeness, 0)
        member = np.zeros((len(centres), len(texts)), np.float32)
        member[chosen[known], np.flatnonzero(known)] = 1
        term_sums += np.asarray((terms_of.T @ member.T).T)
    placed = best >= 0
    general = ~placed & _judged(ideas, stop_words)
    used = np.unique(best[placed])
    # Theme indexes count only the themes some idea is placed in: 0, 1, 2 ...
    index = np.full(len(centres), -1, np.int32)
    index[used] = np.arange(len(used), dtype=np.int32)
    themes_of = np.where(placed, index[np.maximum(best, 0)], -1).astype(np.int32)
    vocabulary = vectorizer.get_feature_names_out()
    terms = [
        [str(vocabulary[j]) for j in np.argsort(term_sums[theme])[::-1][:8] if term_sums[theme, j]]
        for theme in used
    ]
    pairs = pair_labels([item[1] for item in ideas], themes_of, terms, stop_words)
    labels = [pair or label_of(words, 2) for pair, words in zip(pairs, terms, strict=True)]
    if general.any():
        themes_of[general] = len(used)
        terms.append([])
        labels.append(GENERAL_LABEL)
    return Clustering(_ids(ideas), themes_of, strength, terms, labels)


def _kmeans(features: np.ndarray, tfidf: Any, count: int) -> np.ndarray:
    """k-means in the comparison space, started from NMF's themes of the TF-IDF rows:
    deterministic, and on a small question as good as NMF (k-means++ starts found the
    four topics of tests/test_themes.py far less often); k-means then moves ideas to
    the theme whose meaning they share."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # Stopping at max_iter still gives usable themes, and fewer distinct ideas than
        # themes gives fewer themes: neither is worth a warning.
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = NMF(n_components=count, init="nndsvda", random_state=0, max_iter=400)
        groups = np.unique(start.fit_transform(tfidf).argmax(axis=1), return_inverse=True)[1]
        centres = _group_means(features, groups, int(groups.max()) + 1)
        model = KMeans(n_clusters=len(centres), init=centres, n_init=1)
        return np.asarray(model.fit_predict(features))


class _Space:
    """Where ideas are compared: an idea's GloVe vector (what its words mean) beside the
    latent semantic analysis of its TF-IDF row (which words it uses), half and half."""

    def __init__(self, vectorizer: Any, matrix: Any, stop_words: frozenset[str]) -> None:
        from sklearn.decomposition import TruncatedSVD

        self.vectorizer = vectorizer
        self.stop_words = stop_words
        dimensions = min(LSA_DIMENSIONS, matrix.shape[1] - 1, matrix.shape[0] - 1)
        self.lsa = None
        if dimensions >= 2:
            self.lsa = TruncatedSVD(dimensions, random_state=0).fit(matrix)

    def features(self, texts: Sequence[str], matrix: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """(each text's features, their GloVe part); a row of zeros for a text with no
        word the space knows. `matrix`: the texts' TF-IDF rows, when already made."""
        from handlers.insights.word_vectors import text_vectors

        words = text_vectors(texts, TOKEN_PATTERN, self.stop_words)
        if matrix is None:
            matrix = self.vectorizer.transform(texts)
        usage = self.lsa.transform(matrix) if self.lsa else matrix.toarray()
        usage = _unit(np.asarray(usage, np.float32))
        return np.hstack([WORD_SHARE * words, (1 - WORD_SHARE) * usage]), words


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1)


def _group_means(rows: Any, group: np.ndarray, count: int) -> np.ndarray:
    """The mean row of each group, for dense or sparse rows."""
    member = np.zeros((count, len(group)), np.float32)
    member[group, np.arange(len(group))] = 1
    sums = np.asarray((rows.T @ member.T).T, np.float64)
    return sums / np.maximum(member.sum(axis=1), 1)[:, None]


def _centred_means(words: np.ndarray, group: np.ndarray, count: int) -> np.ndarray:
    """Each cluster's mean word vector less the mean of all: what sets it apart, so
    that two clusters about the same thing point the same way."""
    return _group_means(words, group, count) - words.mean(axis=0)


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
