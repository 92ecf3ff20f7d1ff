"""Themes over time: re-clustering a question's ideas in the background (keeping the
team's names and moves), and the /themes report read from the latest stored result.

A run is written beside the current one in small transactions and switched in at the
end, so reading themes never waits for clustering and never sees half a result.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from handlers.insights.context import Reporting
from handlers.insights.scope import ReportScope
from handlers.insights.text import age, clip, plural
from handlers.insights.themes import METHOD, Clustering, cluster, label_of, match_numbers
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
    members: list[tuple[int, float]]  # (idea id, weight)


def plan_run(
    ideas: Sequence[tuple[int, str, str]],
    clustering: Clustering,
    old_members: Mapping[int, int],
    old_themes: Sequence[ThemeRecord],
    pins: Mapping[int, int],
) -> list[PlannedTheme]:
    """Number the new themes (matching old ones) and apply the team's pinned moves."""
    by_index: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for idea, index, weight in clustering.assignments:
        by_index[index].append((idea, weight))
    old_sets: dict[int, set[int]] = defaultdict(set)
    for idea, number in old_members.items():
        old_sets[number].add(idea)
    numbers = match_numbers({i: {m for m, _ in ms} for i, ms in by_index.items()}, old_sets)
    planned: dict[int, PlannedTheme] = {}
    for index, members in sorted(by_index.items()):
        key = numbers.get(index, -(index + 1))
        terms = clustering.terms[index]
        planned[key] = PlannedTheme(key, label_of(terms), terms, list(members))
    known = {idea for idea, _text, _label in ideas}
    old_by_number = {theme.number: theme for theme in old_themes}
    for idea, number in sorted(pins.items()):
        if idea not in known:
            continue
        for theme in planned.values():
            theme.members[:] = [(m, w) for m, w in theme.members if m != idea]
        if number not in planned:
            old = old_by_number.get(number)
            terms = list(old.terms) if old else []
            planned[number] = PlannedTheme(
                number, old.auto_label if old else f"theme {number}", terms, []
            )
        planned[number].members.append((idea, 0.0))
    return [theme for theme in planned.values() if theme.members]


async def refresh_themes(reporting: Reporting, question_id: int | None) -> int | None:
    """Re-cluster one question's ideas; returns the new run's id (None: too few ideas)."""
    store = reporting.store
    async with store.reader() as unit:
        ideas = await unit.themes.ideas_for_analysis(question_id, limit=MAX_IDEAS)
        current = await unit.themes.current_run(KIND, question_id)
        old_members = await unit.themes.members(current.id) if current else {}
        old_themes = await unit.themes.themes_of(current.id) if current else []
        pins = await unit.themes.pins()
    clustering = await asyncio.to_thread(cluster, [(idea, text) for idea, text, _ in ideas])
    if not clustering.assignments:
        return None
    planned = plan_run(ideas, clustering, old_members, old_themes, pins)
    labels = {idea: label for idea, _text, label in ideas}
    async with store.transaction() as unit:
        fresh = iter(await unit.themes.next_numbers(sum(t.key < 0 for t in planned), reporting.now))
        numbered = [(theme.key if theme.key > 0 else next(fresh), theme) for theme in planned]
        run_id = await unit.themes.start_run(KIND, question_id, METHOD, reporting.now)
        await unit.themes.add_themes(run_id, [_theme_row(n, t, labels) for n, t in numbered])
    members = [(idea, number, weight) for number, t in numbered for idea, weight in t.members]
    for start in range(0, len(members), BATCH):
        async with store.transaction() as unit:
            await unit.themes.add_members(run_id, members[start : start + BATCH])
    async with store.transaction() as unit:
        newest = max(idea for idea, _text, _label in ideas)
        await unit.themes.finish_run(run_id, len(members), newest, reporting.now)
    while True:
        async with store.transaction() as unit:
            if not await unit.themes.drop_old_runs(KIND, question_id, keep=run_id, batch=BATCH):
                return run_id


def _theme_row(number: int, theme: PlannedTheme, labels: Mapping[int, str]) -> dict:
    mix = Counter(labels.get(idea, "unscored") for idea, _weight in theme.members)
    ranked = sorted(theme.members, key=lambda member: (-member[1], member[0]))
    return {
        "number": number,
        "label": theme.label[:200],
        "terms": theme.terms,
        "size": len(theme.members),
        "representatives": [idea for idea, _weight in ranked[:2]],
        **{label: mix.get(label, 0) for label in LABELS},
    }


async def build_themes(reporting: Reporting, scope: ReportScope) -> dict:
    """The latest stored themes of each question in scope (or of the one asked for)."""
    keys = [scope.question_key] if scope.question_key else reporting.question_keys
    since_at = reporting.store_scope(scope).since_at
    questions = []
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
                                {"id": i, "text": texts[i].text}
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


def is_stale(question: dict, now, refresh_minutes: float) -> bool:
    """True when a stored result should be recomputed: none yet, or older than the
    refresh interval with newer ideas waiting."""
    if question.get("as_of") is None:
        return bool(question.get("ideas_waiting"))
    old = (now - question["as_of"]).total_seconds() > refresh_minutes * 60
    return old and question.get("newer_ideas", 0) > 0


def format_theme(theme: dict) -> str:
    mix = ", ".join(f"{label} {count}" for label, count in theme["sentiment"].items() if count)
    lines = [f"Theme {theme['number']}: {theme['label']} ({plural(theme['size'], 'idea')}; {mix})"]
    if theme["renamed"]:
        lines.append(f"  top terms: {', '.join(theme['terms'][:5])}")
    lines += [f"  - #{idea['id']} {clip(idea['text'], 80)}" for idea in theme["representatives"]]
    return "\n".join(lines)


def format_question_header(question: dict, now) -> str:
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
