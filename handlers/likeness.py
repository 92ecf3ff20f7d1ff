""" "Is your idea like one of these?": the ideas of a question most like a new one.

The measure is the similar-ideas one (handlers/insights/similar.py): TF-IDF over
character n-grams of 3 to 5 letters within words, sublinear term frequency, cosine
similarity, and the same threshold (`insights.similar_threshold`). Up to three ideas at
or above it are offered, most alike first, except an idea that says the opposite of the
new one ("more X" and "less X", "nothing" and "everything", "X" and "no X"; the guard the
similar-ideas job uses, handlers/insights/opposites.py): those share most of their
letters but are not the same suggestion.

`LikenessIndex` holds one question's ideas as an inverted index (the transposed TF-IDF
matrix: for each n-gram, the ideas holding it), so a look-up costs the postings of the
new idea's n-grams, not a pass over every idea: well under 50 ms at 100,000 ideas (see
bench/similar_capture.py). Ideas added after the index was built are kept in a small
side matrix and folded in when it grows; their n-grams are weighed with the IDF of the
build; n-grams first seen since are learnt with the IDF of an n-gram in no document, and
the index is fitted afresh as it doubles while small (`rebuild()`). A text's n-grams that
no idea holds still count in its length (sklearn's `transform` drops them before
normalising, which made a text of mostly unseen n-grams look like any idea it shares a few
suffixes with: "Prays profitabilities ..." offered as like "Devotedly liberties ..." in
bench/load.py). Pure computation: no store, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from handlers.enrich.model import Scored
from handlers.insights.opposites import are_opposite

MAX_ALIKE = 3
# Ideas added since the build are folded into the inverted index once there are this many
# (until then each look-up also scores them, as one small sparse product).
FOLD_AFTER = 2_000
# Until a question has this many ideas, the index is fitted afresh each time it doubles:
# the n-grams and their IDF come from a handful of early ideas otherwise, and a new idea's
# unseen n-grams could never match. The last refit, of 2,000 ideas, takes about a quarter
# of a second; beyond, the vocabulary has settled and folding keeps look-ups fast.
REFIT_UNTIL = 2_000
# Texts looked up whose n-grams are kept until they are added (a burst of new ideas).
REMEMBER_LOOKED_UP = 256

# --- The index -------------------------------------------------------------------------


@dataclass(frozen=True)
class Alike:
    idea_id: int
    text: str
    similarity: float


def _vectorizer() -> Any:
    """The similar-ideas measure's TF-IDF (handlers/insights/similar.py)."""
    from sklearn.feature_extraction.text import TfidfVectorizer  # slow to import

    return TfidfVectorizer(
        analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, lowercase=True,
        dtype=np.float32,
    )  # fmt: skip


class LikenessIndex:
    """One question's ideas, ready to be asked which are like a new text."""

    def __init__(self, ideas: Iterable[tuple[int, str]], threshold: float) -> None:
        self.threshold = threshold
        # The n-grams of the texts last looked up: a new idea is looked up, then stored
        # and added, and is analysed once (sklearn's analyser is plain Python).
        self._looked_up: dict[str, list[str]] = {}
        self.rebuild(list(ideas))

    def __len__(self) -> int:
        return int(self._alive.sum()) + len(self._pending)

    def rebuild(self, ideas: Sequence[tuple[int, str]] | None = None) -> None:
        """Fit the IDF and the inverted index afresh, on these ideas or the current ones
        (seconds for a large question: call it from a worker thread)."""
        if ideas is None:
            ideas = self.ideas()
        vectorizer = _vectorizer()
        self._ids = np.array([idea for idea, _text in ideas], dtype=np.int64)
        self._texts = [text for _idea, text in ideas]
        self._alive = np.ones(len(ideas), dtype=bool)
        self._postings: Any = None
        self._pending: list[tuple[int, str, np.ndarray, np.ndarray]] = []
        self._flat: _Flat | None = None  # the pending rows' n-grams, for look-ups
        if ideas:
            matrix = vectorizer.fit_transform(self._texts)
            self._analyse = vectorizer.build_analyzer()
            self._vocabulary: dict[str, int] = dict(vectorizer.vocabulary_)
            # An n-gram first seen after the build gets the next column and sklearn's
            # smoothed IDF of an n-gram in none of the build's documents.
            self._unseen_idf = float(np.log(1 + len(ideas)) + 1)
            self._idf = vectorizer.idf_.astype(np.float32)
            self._index(matrix)
        self._position = {int(idea): row for row, idea in enumerate(self._ids)}

    def _index(self, matrix: Any) -> None:
        postings = matrix.T.tocsr()  # n-gram -> the ideas holding it, in order
        postings.sort_indices()
        self._postings = postings

    def ideas(self) -> list[tuple[int, str]]:
        return [
            (int(idea), text)
            for idea, text, alive in zip(self._ids, self._texts, self._alive, strict=True)
            if alive
        ] + [(idea, text) for idea, text, _c, _w in self._pending]

    def vector(self, text: str, *, learn: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(n-gram columns, weights) of the text: sublinear tf times idf, unit length.
        An n-gram no idea holds counts in the length; `learn` gives it a column (an idea
        being added), otherwise it is left out (a look-up: no idea can share it)."""
        counts: dict[int, int] = {}
        unseen: dict[str, int] = {}
        for gram in self._grams(text, looking_up=not learn):
            column = self._vocabulary.get(gram)
            if column is None and learn:
                column = self._vocabulary[gram] = len(self._vocabulary)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
            else:
                unseen[gram] = unseen.get(gram, 0) + 1
        if len(self._vocabulary) > len(self._idf):
            grown = len(self._vocabulary) - len(self._idf)
            self._idf = np.concatenate([self._idf, np.full(grown, self._unseen_idf, np.float32)])
        columns = np.fromiter(counts, dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        weights = (1.0 + np.log(tf)) * self._idf[columns]
        unseen_tf = np.fromiter(unseen.values(), dtype=np.float32, count=len(unseen))
        unseen_weights = (1.0 + np.log(unseen_tf)) * self._unseen_idf
        length = np.sqrt(np.dot(weights, weights) + np.dot(unseen_weights, unseen_weights))
        if length > 0:
            weights /= length
        return columns, weights.astype(np.float32)

    def _grams(self, text: str, *, looking_up: bool) -> list[str]:
        if not looking_up:
            grams = self._looked_up.pop(text, None)
            return grams if grams is not None else self._analyse(text)
        grams = self._looked_up.get(text)
        if grams is None:
            grams = self._analyse(text)
            if len(self._looked_up) >= REMEMBER_LOOKED_UP:
                del self._looked_up[next(iter(self._looked_up))]  # the oldest
            self._looked_up[text] = grams
        return grams

    @property
    def refit_due(self) -> bool:
        """It has doubled since the build, below REFIT_UNTIL ideas: time to fit afresh."""
        built = len(self._ids)
        return 0 < built < REFIT_UNTIL and len(self._pending) >= built

    def add(self, idea_id: int, text: str, *, refit: bool = True) -> None:
        """A newly stored idea, scored with the IDF of the last build (its new n-grams
        weighed as unseen then). When the index has doubled since the build (below
        REFIT_UNTIL ideas) it is fitted afresh, unless `refit` is False (the caller fits
        a new index elsewhere: `refit_due`); past that, once FOLD_AFTER have been added
        they are folded into the inverted index."""
        if self._postings is None:
            self.rebuild([*self.ideas(), (idea_id, text)])
            return
        columns, weights = self.vector(text, learn=True)
        self._pending.append((idea_id, text, columns, weights))
        if self._flat is not None:  # extended, not rebuilt: a burst of ideas adds many
            self._flat = self._flat.with_row(len(self._pending) - 1, columns, weights)
        if self.refit_due:
            if refit:
                self.rebuild()
        elif len(self._pending) >= FOLD_AFTER:
            self._fold()

    def _fold(self) -> None:
        from scipy.sparse import vstack

        rows = self._pending_rows()
        built = self._postings.T.tocsr()
        built.resize((built.shape[0], rows.shape[1]))  # the n-grams learnt since the build
        self._ids = np.concatenate([self._ids, [idea for idea, *_ in self._pending]])
        self._texts += [text for _idea, text, *_ in self._pending]
        self._alive = np.concatenate([self._alive, np.ones(len(self._pending), dtype=bool)])
        for idea, *_ in self._pending:
            self._position[idea] = len(self._position)
        self._index(vstack([built, rows]).tocsr())
        self._pending, self._flat = [], None

    def _pending_rows(self) -> Any:
        from scipy.sparse import csr_matrix

        lengths = [len(columns) for _i, _t, columns, _w in self._pending]
        return csr_matrix(
            (
                np.concatenate([w for *_rest, w in self._pending]),
                np.concatenate([c for _i, _t, c, _w in self._pending]),
                np.concatenate([[0], np.cumsum(lengths)]),
            ),
            shape=(len(self._pending), len(self._vocabulary)),
        )

    def _pending_scores(self, columns: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The cosine of a query (unit-length n-gram weights) with each pending idea."""
        if self._flat is None:
            self._flat = _Flat.of(self._pending)
        query = np.zeros(len(self._vocabulary), dtype=np.float32)
        query[columns] = weights
        flat = self._flat
        products = query[flat.columns] * flat.weights
        return np.bincount(flat.rows, weights=products, minlength=len(self._pending)).astype(
            np.float32
        )

    def _indexed_scores(
        self, columns: np.ndarray, weights: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cosines) of the built ideas sharing an n-gram with the query. Only the
        postings of the query's n-grams are read, gathered in one vectorised pass (a
        sparse product costs more in scipy's checks than in arithmetic for one query)."""
        postings = self._postings
        indexed = columns < postings.shape[0]
        columns, weights = columns[indexed], weights[indexed]
        starts = postings.indptr[columns]
        lengths = postings.indptr[columns + 1] - starts
        total = int(lengths.sum())
        if not total:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        # Positions of every posting of every column, end to end.
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        positions = offsets + np.arange(total)
        held = postings.indices[positions]
        products = postings.data[positions] * np.repeat(weights, lengths)
        sums = np.bincount(held, weights=products, minlength=postings.shape[1])
        rows = np.flatnonzero(sums)
        return rows, sums[rows].astype(np.float32)

    def remove(self, idea_id: int) -> None:
        """An idea hidden, erased or merged into another: never offered again."""
        row = self._position.get(idea_id)
        if row is not None:
            self._alive[row] = False
            return
        self._pending = [item for item in self._pending if item[0] != idea_id]
        self._flat = None

    def find(
        self, text: str, limit: int = MAX_ALIKE, *, scored: Scored | None = None
    ) -> list[Alike]:
        """Up to `limit` ideas at or above the threshold, most alike first, leaving out
        any that says the opposite of `text` (`scored`: the sentiment model's score of
        `text`, when known already, so that it is not scored again here)."""
        if self._postings is None or not text.strip():
            return []
        columns, weights = self.vector(text)
        if not len(columns):
            return []
        found: list[tuple[float, int, str]] = []
        rows, cosines = self._indexed_scores(columns, weights)
        keep = (cosines >= self.threshold) & self._alive[rows]
        found += [
            (float(score), int(self._ids[row]), self._texts[row])
            for row, score in zip(rows[keep], cosines[keep], strict=True)
        ]
        if self._pending:
            pending = self._pending_scores(columns, weights)
            for at in np.flatnonzero(pending >= self.threshold):
                idea, other, _c, _w = self._pending[at]
                found.append((float(pending[at]), idea, other))
        found.sort(key=lambda item: (-item[0], item[1]))
        alike: list[Alike] = []
        for similarity, idea, other in found:
            if are_opposite(text, other, a_scored=scored):
                continue
            alike.append(Alike(idea, other, round(similarity, 4)))
            if len(alike) == limit:
                break
        return alike


@dataclass(frozen=True)
class _Flat:
    """Every pending idea's n-gram columns and weights end to end, with the row each
    belongs to: a look-up scores them all in one vectorised pass."""

    columns: np.ndarray
    weights: np.ndarray
    rows: np.ndarray

    @classmethod
    def of(cls, pending: Sequence[tuple[int, str, np.ndarray, np.ndarray]]) -> _Flat:
        lengths = [len(columns) for _i, _t, columns, _w in pending]
        return cls(
            np.concatenate([c for _i, _t, c, _w in pending]).astype(np.int64),
            np.concatenate([w for *_rest, w in pending]).astype(np.float32),
            np.repeat(np.arange(len(pending)), lengths),
        )

    def with_row(self, row: int, columns: np.ndarray, weights: np.ndarray) -> _Flat:
        return _Flat(
            np.concatenate([self.columns, columns]),
            np.concatenate([self.weights, weights]),
            np.concatenate([self.rows, np.full(len(columns), row)]),
        )


def find_alike(
    text: str, ideas: Sequence[tuple[int, str]], threshold: float, limit: int = MAX_ALIKE
) -> list[Alike]:
    """The ideas like `text` among `ideas` (id, text). Builds an index each call: for a
    question's many look-ups keep a `LikenessIndex` instead."""
    return LikenessIndex(ideas, threshold).find(text, limit)
