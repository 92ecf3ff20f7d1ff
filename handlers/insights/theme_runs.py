"""Themes over time: re-clustering a question's ideas in the background (keeping the
team's names and moves), and the /themes report read from the latest stored result.

A run is written beside the current one in small transactions and switched in at the
end, so reading themes never waits for clustering and never sees half a result.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from handlers.insights.context import Reporting
from handlers.insights.scope import ReportScope
from handlers.insights.text import age, clip, idea_name, plural
from handlers.insights.themes import METHOD, Clustering, cluster, match_numbers
from storage.insights import Scope
from storage.themes import LABELS, ThemeRecord

KIND = "themes"
MAX_IDEAS = 500_000  # newest ideas of a question considered in one run
BATCH = 5000  # rows written per transaction
SHOWN = 8  # themes listed in chat


@dataclass(frozen=True)
class PlannedTheme:
    key: int  # an old theme number, or a negative placeholder for a fresh one
    label: str
    terms: list[str]
    positions: np.ndarray  # the members, as positions in the clustering's arrays
    weights: np.ndarray  # each member's weight (0 for an idea the team moved there)


def plan_run(
    clustering: Clustering,
    old_ideas: np.ndarray,
    old_numbers: np.ndarray,
    old_themes: Sequence[ThemeRecord],
    pins: Mapping[int, int],
) -> list[PlannedTheme]:
    """Number the new themes (matching old ones) and apply the team's pinned moves."""
    numbers = match_numbers(clustering, old_ideas, old_numbers)
    ideas = clustering.ideas  # in id order
    pinned = np.array(sorted(pins), dtype=np.int64)
    at = np.searchsorted(ideas, pinned)
    known = at < len(ideas)
    known[known] = ideas[at[known]] == pinned[known]
    free = np.ones(len(ideas), bool)
    free[at[known]] = False  # pinned ideas go where the team put them, not where NMF did
    planned: dict[int, PlannedTheme] = {}
    for index in np.unique(clustering.themes[clustering.themes >= 0]):
        index = int(index)
        positions = np.flatnonzero((clustering.themes == index) & free)
        key = numbers.get(index, -(index + 1))
        terms = clustering.terms[index]
        weights = clustering.weights[positions]
        planned[key] = PlannedTheme(key, clustering.label(index), terms, positions, weights)
    old_by_number = {theme.number: theme for theme in old_themes}
    moved: dict[int, list[int]] = defaultdict(list)
    for position, idea in zip(at[known], pinned[known], strict=True):
        moved[pins[int(idea)]].append(int(position))
    for number, moved_positions in sorted(moved.items()):
        theme = planned.get(number)
        if theme is None:
            old = old_by_number.get(number)
            terms = list(old.terms) if old else []
            label = old.auto_label if old else f"theme {number}"
            theme = PlannedTheme(number, label, terms, np.empty(0, np.int64), np.empty(0))
        planned[number] = PlannedTheme(
            number,
            theme.label,
            theme.terms,
            np.concatenate([theme.positions, moved_positions]),
            np.concatenate([theme.weights, np.zeros(len(moved_positions))]),
        )
    return [theme for theme in planned.values() if len(theme.positions)]


async def refresh_themes(reporting: Reporting, question_id: int | None) -> int | None:
    """Re-cluster one question's ideas; returns the new run's id (None: too few ideas)."""
    store = reporting.store
    async with store.reader() as unit:
        ideas = await unit.themes.ideas_for_analysis(question_id, limit=MAX_IDEAS)
        current = await unit.themes.current_run(KIND, question_id)
        old_ideas, old_numbers = await unit.themes.membership(current.id if current else None)
        old_themes = await unit.themes.themes_of(current.id) if current else []
        pins = await unit.themes.pins()
    clustering = await asyncio.to_thread(cluster, ideas)
    codes = np.fromiter((LABELS.index(label) for _, _, label in ideas), np.int8, len(ideas))
    del ideas  # the texts are no longer needed: the largest part of a large question
    if not (clustering.themes >= 0).any():
        return None
    planned = plan_run(
        clustering,
        np.frombuffer(old_ideas, dtype=np.int64),
        np.frombuffer(old_numbers, dtype=np.int64),
        old_themes,
        pins,
    )
    async with store.transaction() as unit:
        fresh = iter(await unit.themes.next_numbers(sum(t.key < 0 for t in planned), reporting.now))
        numbered = [(theme.key if theme.key > 0 else next(fresh), theme) for theme in planned]
        run_id = await unit.themes.start_run(KIND, question_id, METHOD, reporting.now)
        await unit.themes.add_themes(
            run_id, [_theme_row(n, t, clustering.ideas, codes) for n, t in numbered]
        )
    members = 0
    for number, theme in numbered:
        for start in range(0, len(theme.positions), BATCH):
            batch = theme.positions[start : start + BATCH]
            rows = zip(
                clustering.ideas[batch].tolist(),
                [number] * len(batch),
                theme.weights[start : start + BATCH].tolist(),
                strict=True,
            )
            async with store.transaction() as unit:
                await unit.themes.add_members(run_id, list(rows))
            members += len(batch)
    async with store.transaction() as unit:
        newest = int(clustering.ideas.max())
        await unit.themes.finish_run(run_id, members, newest, reporting.now)
    while True:
        async with store.transaction() as unit:
            if not await unit.themes.drop_old_runs(KIND, question_id, keep=run_id, batch=BATCH):
                return run_id


def _theme_row(number: int, theme: PlannedTheme, ideas: np.ndarray, codes: np.ndarray) -> dict:
    mix = np.bincount(codes[theme.positions], minlength=len(LABELS))
    ids = ideas[theme.positions]
    ranked = np.lexsort((ids, -theme.weights))  # heaviest first; ties by id
    return {
        "number": number,
        "label": theme.label[:200],
        "terms": theme.terms,
        "size": len(theme.positions),
        "representatives": [int(ids[i]) for i in ranked[:2]],
        **{label: int(mix[code]) for code, label in enumerate(LABELS)},
    }


async def build_themes(reporting: Reporting, scope: ReportScope) -> dict:
    """The latest stored themes of each question in scope (or of the one asked for)."""
    keys = [scope.question_key] if scope.question_key else reporting.question_keys
    since_at = reporting.store_scope(scope).since_at
    questions: list[dict[str, Any]] = []
    async with reporting.store.reader() as unit:
        for key in keys:
            question_id = reporting.question_ids.get(key)
            run = await unit.themes.current_run(KIND, question_id)
            if run is None:
                has_ideas = await unit.rankings.ideas_since(Scope(question_id=question_id), 0)
                if scope.question_key or has_ideas:
                    questions.append({"question": key, "as_of": None, "ideas_waiting": has_ideas})
                continue
            themes = await unit.themes.themes_of(run.id)
            if since_at is not None:
                counts = await unit.themes.scoped_counts(run.id, since_at)
                themes = [_rescoped(t, counts.get(t.number)) for t in themes]
                themes = sorted((t for t in themes if t.size), key=lambda t: (-t.size, t.number))
            texts = await unit.similar.ideas(i for t in themes for i in t.representatives)
            newer = await unit.rankings.ideas_since(
                Scope(question_id=question_id), run.newest_item_id
            )
            questions.append(
                {
                    "question": key,
                    "as_of": run.finished_at,
                    "method": run.method,
                    "ideas": run.items,
                    "newer_ideas": newer,
                    "themes": [
                        {
                            "number": t.number,
                            "label": t.label,
                            "auto_label": t.auto_label,
                            "renamed": t.renamed,
                            "terms": list(t.terms),
                            "size": t.size,
                            "sentiment": t.sentiment,
                            "representatives": [
                                {"id": i, "number": texts[i].number, "text": texts[i].text}
                                for i in t.representatives
                                if i in texts
                            ],
                        }
                        for t in themes
                    ],
                }
            )
    return {"scope": scope.as_dict(), "now": reporting.now, "questions": questions}


def _rescoped(theme: ThemeRecord, counts: tuple[int, dict[str, int]] | None) -> ThemeRecord:
    from dataclasses import replace

    size, mix = counts or (0, dict.fromkeys(LABELS, 0))
    return replace(theme, size=size, sentiment=mix)


def is_stale(question: dict, now: datetime, refresh_minutes: float) -> bool:
    """True when a stored result should be recomputed: none yet, or older than the
    refresh interval with newer ideas waiting."""
    if question.get("as_of") is None:
        return bool(question.get("ideas_waiting"))
    old = (now - question["as_of"]).total_seconds() > refresh_minutes * 60
    return old and question.get("newer_ideas", 0) > 0


def sentiment_mix(counts: Mapping[str, int]) -> str:
    """The mix as a phrase, "positive 60%, negative 30%, neutral 10%": the labels present,
    largest first (the unscored share too, so the figures add up to the theme's size)."""
    total = sum(counts.values())
    if not total:
        return "no sentiment"
    shown = sorted(((n, label) for label, n in counts.items() if n), key=lambda x: -x[0])
    return ", ".join(f"{label} {round(100 * n / total)}%" for n, label in shown)


def format_theme(theme: dict) -> str:
    mix = sentiment_mix(theme["sentiment"])
    lines = [f"Theme {theme['number']}: {theme['label']} ({plural(theme['size'], 'idea')}; {mix})"]
    if theme["renamed"]:
        lines.append(f"  top terms: {', '.join(theme['terms'][:5])}")
    lines += [
        f"  - {idea_name(idea)} {clip(idea['text'], 80)}" for idea in theme["representatives"]
    ]
    return "\n".join(lines)


def format_question_header(question: dict, now: datetime) -> str:
    if question["as_of"] is None:
        return f"Themes for {question['question']}: none worked out yet."
    newer = question["newer_ideas"]
    waiting = f"; {plural(newer, 'newer idea')} not yet included" if newer else ""
    return (
        f"Themes for {question['question']}, as of {age(question['as_of'], now)} "
        f"({plural(question['ideas'], 'idea')} themed{waiting}):"
    )


def format_themes(data: dict) -> str:
    blocks = []
    if not data["questions"]:
        blocks.append("No ideas to group into themes yet.")
    for question in data["questions"]:
        blocks.append(format_question_header(question, data["now"]))
        for theme in question.get("themes", [])[:SHOWN]:
            blocks.append(format_theme(theme))
        hidden = len(question.get("themes", [])) - SHOWN
        if hidden > 0:
            blocks.append(f"{plural(hidden, 'smaller theme')} not shown; /export has them all.")
    return "\n".join(blocks)
