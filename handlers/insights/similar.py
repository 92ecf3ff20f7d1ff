"""Near-duplicate ideas: the same suggestion in other words, offered to moderators to merge.

Method: TF-IDF over character n-grams (3 to 5 letters, within words) and cosine
similarity. Character n-grams match word forms that whole words miss ("physio" and
"physiotherapists", "refer" and "referral", "waits" and "waiting"), which is most of
what rewording a one-line idea changes. The default threshold (0.56,
`insights.similar_threshold`) comes from a labelled set of idea pairs in
tests/test_similar.py: it is where F1 is best, and it errs towards offering a pair,
because a moderator confirms every merge. Pairs that say opposite things however alike
their letters ("Absolutely everything." / "Absolutely nothing.") are never offered:
`are_opposite` in handlers/insights/opposites.py (negation or an antonym on one side only,
or opposite sentiment labels held with confidence).

Pairs are found in the background for the newest 20,000 ideas of each question (each
idea's three closest matches, at most 2,000 pairs a run) and stored; /similar lists the
open ones, most alike first.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from handlers.insights.context import Reporting
from handlers.insights.opposites import are_opposite
from handlers.insights.scope import ReportScope
from handlers.insights.text import age, clip, idea_name, plural
from storage.scope import Scope
from storage.similar import IdeaText

KIND = "similar"
METHOD = "tfidf-char-3-5+opposites"
MAX_IDEAS = 20_000
CHUNK = 100  # rows compared at a time: about 30 MB for a block against 20,000 ideas
PER_IDEA = 3  # an idea's closest matches kept; a long list of look-alikes helps no one
MAX_PAIRS = 2000  # kept per run, the most alike first
DEFAULT_COUNT = 5


def similarity_matrix(texts: Sequence[str]) -> Any:
    """Row-normalised TF-IDF of character n-grams: a dot product is the cosine."""
    from sklearn.feature_extraction.text import TfidfVectorizer  # slow to import; used rarely

    vectorizer = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(3, 5),
        sublinear_tf=True,
        lowercase=True,
        dtype=np.float32,
    )
    return vectorizer.fit_transform(texts)


def similar_pairs(
    ideas: Sequence[tuple[int, str]], threshold: float
) -> list[tuple[int, int, float]]:
    """(idea, other, similarity) at or above `threshold`, most alike first: for each idea
    its closest few later ideas, at most MAX_PAIRS in all. CPU work: run it in a thread."""
    if len(ideas) < 2:
        return []
    matrix = similarity_matrix([text for _id, text in ideas])
    ids = np.array([idea for idea, _text in ideas])
    count = len(ideas)
    keep = min(PER_IDEA, count)
    found: list[tuple[float, int, int]] = []
    columns = matrix.T.tocsr()  # once, not once per block
    for start in range(0, count, CHUNK):
        block = (matrix[start : start + CHUNK] @ columns).toarray()
        rows = np.arange(start, start + len(block))
        for row in range(len(block)):
            block[row, : start + row + 1] = 0.0  # each pair once: only later ideas
        best = np.argpartition(block, count - keep, axis=1)[:, count - keep :]
        scores = np.take_along_axis(block, best, axis=1)
        hit_rows, hit_columns = np.nonzero(scores >= threshold)
        found += zip(
            scores[hit_rows, hit_columns].tolist(),
            ids[rows[hit_rows]].tolist(),
            ids[best[hit_rows, hit_columns]].tolist(),
            strict=True,
        )
    found.sort(key=lambda item: (-item[0], item[1], item[2]))
    texts = dict(ideas)
    kept = (item for item in found if not are_opposite(texts[item[1]], texts[item[2]]))
    return [(a, b, score) for score, a, b in itertools.islice(kept, MAX_PAIRS)]


async def refresh_similar(reporting: Reporting, question_id: int | None) -> int:
    """Look for near-duplicates among a question's ideas; returns how many pairs."""
    threshold = reporting.config.insights.similar_threshold
    async with reporting.store.reader() as unit:
        ideas = await unit.themes.ideas_for_analysis(question_id, limit=MAX_IDEAS)
    pairs = await asyncio.to_thread(
        similar_pairs, [(idea, text) for idea, text, _ in ideas], threshold
    )
    async with reporting.store.transaction() as unit:
        run_id = await unit.themes.start_run(KIND, question_id, METHOD, reporting.now)
        await unit.similar.save_pairs(question_id, pairs, reporting.now)
        newest = max((idea for idea, _t, _l in ideas), default=0)
        await unit.themes.finish_run(run_id, len(ideas), newest, reporting.now)
        await unit.themes.drop_old_runs(KIND, question_id, keep=run_id, batch=1)
    return len(pairs)


def suggested_direction(first: IdeaText, second: IdeaText) -> tuple[int, int]:
    """(duplicate, survivor): the idea with more votes stays; on a tie, the older one."""

    def weight(idea: IdeaText) -> tuple[int, int]:
        return (idea.agree + idea.disagree + idea.skip, -idea.id)

    survivor, duplicate = sorted((first, second), key=weight, reverse=True)
    return duplicate.id, survivor.id


def _idea(idea: IdeaText) -> dict:
    return {
        "id": idea.id,
        "number": idea.number,
        "text": idea.text,
        "agree": idea.agree,
        "disagree": idea.disagree,
        "skip": idea.skip,
        "channel": idea.channel,
    }


async def build_similar(reporting: Reporting, scope: ReportScope, count: int | None = None) -> dict:
    keys = [scope.question_key] if scope.question_key else reporting.question_keys
    where = reporting.store_scope(scope)
    async with reporting.store.reader() as unit:
        runs = [
            await unit.themes.current_run(KIND, reporting.question_ids.get(key)) for key in keys
        ]
        newer = 0
        for run in runs:
            if run is not None and run.question_id is not None:
                scope_of_run = Scope(question_id=run.question_id)
                newer += await unit.rankings.ideas_since(scope_of_run, run.newest_item_id)
        pairs = await unit.similar.open_pairs(
            where.question_id, limit=count or DEFAULT_COUNT, since=where.since_at
        )
    finished = [run.finished_at for run in runs if run is not None]
    listed = []
    for pair in pairs:
        duplicate, survivor = suggested_direction(pair.idea, pair.other)
        listed.append(
            {
                "similarity": round(pair.similarity, 3),
                "ideas": [_idea(pair.idea), _idea(pair.other)],
                "suggested": {"duplicate": duplicate, "into": survivor},
            }
        )
    return {
        "scope": scope.as_dict(),
        "now": reporting.now,
        "as_of": min(finished) if finished else None,
        "threshold": reporting.config.insights.similar_threshold,
        "newer_ideas": newer,
        "pairs": listed,
    }


def format_pair(pair: dict) -> str:
    first, second = pair["ideas"]
    return "\n".join(
        [
            f"{pair['similarity']:.0%} alike:",
            f"  {idea_name(first)} (+{first['agree']}/-{first['disagree']}) "
            f"{clip(first['text'], 80)}",
            f"  {idea_name(second)} (+{second['agree']}/-{second['disagree']}) "
            f"{clip(second['text'], 80)}",
        ]
    )


def format_similar_header(data: dict) -> str:
    scope = ReportScope.from_dict(data["scope"])
    if data["as_of"] is None:
        return f"Similar ideas ({scope.describe()}): not looked for yet."
    newer = data.get("newer_ideas", 0)
    waiting = f" {plural(newer, 'newer idea')} not yet compared." if newer else ""
    return (
        f"Similar ideas ({scope.describe()}), as of {age(data['as_of'], data['now'])}: "
        + (f"{len(data['pairs'])} open pair(s)." if data["pairs"] else "none open.")
        + waiting
    )


def format_similar(data: dict) -> str:
    return "\n".join([format_similar_header(data), *(format_pair(p) for p in data["pairs"])])
