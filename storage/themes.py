"""Stored results of the theme analysis: runs, themes and their ideas, with the team's
renames and moves (pairs of similar ideas are in storage/similar.py).

A run is built beside the current one and switched in by one short transaction, so a
reader always sees one complete result and says how old it is.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Checkpoint,
    Contribution,
    InsightRun,
    Theme,
    ThemeMember,
    ThemeName,
    ThemePin,
)

NEXT_NUMBER = "themes.next_number"
LABELS = ("positive", "neutral", "negative", "unscored")


@dataclass(frozen=True)
class RunRecord:
    id: int
    kind: str
    question_id: int | None
    method: str
    items: int
    newest_item_id: int
    finished_at: datetime


@dataclass(frozen=True)
class ThemeRecord:
    number: int
    label: str  # the team's name when it has one, else the top terms
    auto_label: str
    renamed: bool
    terms: tuple[str, ...]
    size: int
    sentiment: dict[str, int]
    representatives: tuple[int, ...]


def _insert(backend: str) -> Any:
    return postgresql.insert if backend == "postgresql" else sqlite.insert


def _question_is(column: Any, question_id: int | None) -> Any:
    return column.is_(None) if question_id is None else column == question_id


class Themes:
    def __init__(self, session: AsyncSession, backend: str) -> None:
        self.session = session
        self.backend = backend

    # --- input -------------------------------------------------------------------------

    async def ideas_for_analysis(
        self, question_id: int | None, *, limit: int
    ) -> list[tuple[int, str, str]]:
        """(id, text, label) of the newest visible, unmerged ideas of a question, in id
        order. Streamed, so a large question is held once, as plain tuples."""
        rows = await self.session.stream(
            select(Contribution.id, Contribution.text, Contribution.label)
            .where(
                Contribution.kind == "idea",
                Contribution.status == "visible",
                Contribution.duplicate_of.is_(None),
                _question_is(Contribution.question_id, question_id),
            )
            .order_by(Contribution.id.desc())
            .limit(limit)
        )
        labels: dict[str, str] = {}  # one string object per label, not one per idea
        ideas = [
            (idea, text, labels.setdefault(label, label))
            async for partition in rows.partitions(5000)
            for idea, text, label in partition
        ]
        ideas.reverse()
        return ideas

    async def questions_with_ideas(self) -> list[int | None]:
        rows = await self.session.scalars(
            select(Contribution.question_id)
            .where(Contribution.kind == "idea", Contribution.status == "visible")
            .group_by(Contribution.question_id)
        )
        return list(rows)

    # --- runs --------------------------------------------------------------------------

    async def start_run(
        self, kind: str, question_id: int | None, method: str, now: datetime
    ) -> int:
        row = InsightRun(
            kind=kind,
            question_id=question_id,
            status="building",
            method=method,
            items=0,
            newest_item_id=0,
            started_at=now,
        )
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def finish_run(self, run_id: int, items: int, newest_item_id: int, now: datetime) -> None:
        """Make this run the current one for its kind and question; older runs become
        'old' (their rows are deleted by `drop_old_runs`)."""
        run = await self.session.get(InsightRun, run_id, with_for_update=True)
        assert run is not None
        await self.session.execute(
            update(InsightRun)
            .where(
                InsightRun.kind == run.kind,
                _question_is(InsightRun.question_id, run.question_id),
                InsightRun.status == "current",
            )
            .values(status="old")
        )
        run.status, run.items, run.newest_item_id, run.finished_at = (
            "current",
            items,
            newest_item_id,
            now,
        )
        await self.session.flush()

    async def drop_old_runs(
        self, kind: str, question_id: int | None, *, keep: int, batch: int
    ) -> int:
        """Delete up to `batch` member rows of superseded or abandoned runs (then the runs
        themselves); returns how many rows went, so the caller can go on in further
        transactions without holding the store for long."""
        old = await self.session.scalar(
            select(InsightRun.id)
            .where(
                InsightRun.kind == kind,
                _question_is(InsightRun.question_id, question_id),
                InsightRun.status.in_(("old", "building")),
                InsightRun.id != keep,
            )
            .order_by(InsightRun.id)
            .limit(1)
        )
        if old is None:
            return 0
        members = list(
            await self.session.scalars(
                select(ThemeMember.contribution_id).where(ThemeMember.run_id == old).limit(batch)
            )
        )
        if members:
            await self.session.execute(
                delete(ThemeMember).where(
                    ThemeMember.run_id == old, ThemeMember.contribution_id.in_(members)
                )
            )
            return len(members)
        await self.session.execute(delete(InsightRun).where(InsightRun.id == old))
        return 1

    async def current_run(self, kind: str, question_id: int | None) -> RunRecord | None:
        row = await self.session.scalar(
            select(InsightRun).where(
                InsightRun.kind == kind,
                _question_is(InsightRun.question_id, question_id),
                InsightRun.status == "current",
            )
        )
        if row is None:
            return None
        return RunRecord(
            row.id,
            row.kind,
            row.question_id,
            row.method,
            row.items,
            row.newest_item_id,
            cast(datetime, row.finished_at),
        )

    # --- themes ------------------------------------------------------------------------

    async def next_numbers(self, count: int, now: datetime) -> list[int]:
        """Fresh theme numbers, never reused, so "theme 7" always means one theme."""
        row = await self.session.get(Checkpoint, NEXT_NUMBER, with_for_update=True)
        first = int(row.value) if row else 1
        if row is None:
            row = Checkpoint(name=NEXT_NUMBER, value=str(first + count), updated_at=now)
            self.session.add(row)
        else:
            row.value, row.updated_at = str(first + count), now
        await self.session.flush()
        return list(range(first, first + count))

    async def add_themes(self, run_id: int, themes: Iterable[dict]) -> None:
        rows = [{"run_id": run_id, **theme} for theme in themes]
        if rows:
            await self.session.execute(_insert(self.backend)(Theme).values(rows))

    async def add_members(self, run_id: int, members: Sequence[tuple[int, int, float]]) -> None:
        if members:
            await self.session.execute(
                _insert(self.backend)(ThemeMember.__table__),
                [
                    {"run_id": run_id, "contribution_id": c, "number": n, "weight": w}
                    for c, n, w in members
                ],
            )

    async def membership(self, run_id: int | None) -> tuple[array, array]:
        """A run's members as two arrays of 64-bit ints, idea ids (ascending) and their
        theme numbers: compact enough for a question of hundreds of thousands of ideas."""
        ideas, numbers = array("q"), array("q")
        if run_id is None:
            return ideas, numbers
        rows = await self.session.stream(
            select(ThemeMember.contribution_id, ThemeMember.number)
            .where(ThemeMember.run_id == run_id)
            .order_by(ThemeMember.contribution_id)
        )
        async for partition in rows.partitions(5000):
            for idea, number in partition:
                ideas.append(idea)
                numbers.append(number)
        return ideas, numbers

    async def theme_of(self, run_id: int, idea_id: int) -> int | None:
        return await self.session.scalar(
            select(ThemeMember.number).where(
                ThemeMember.run_id == run_id, ThemeMember.contribution_id == idea_id
            )
        )

    async def themes_of(self, run_id: int) -> list[ThemeRecord]:
        names = await self.names()
        rows = await self.session.scalars(
            select(Theme).where(Theme.run_id == run_id).order_by(Theme.size.desc(), Theme.number)
        )
        return [
            ThemeRecord(
                number=row.number,
                label=names.get(row.number, row.label),
                auto_label=row.label,
                renamed=row.number in names,
                terms=tuple(row.terms or ()),
                size=row.size,
                sentiment={label: getattr(row, label) for label in LABELS},
                representatives=tuple(row.representatives or ()),
            )
            for row in rows
        ]

    async def scoped_counts(
        self, run_id: int, since: datetime
    ) -> dict[int, tuple[int, dict[str, int]]]:
        """Theme sizes and sentiment counting only ideas posted since a moment."""
        rows = await self.session.execute(
            select(ThemeMember.number, Contribution.label, func.count())
            .join(Contribution, Contribution.id == ThemeMember.contribution_id)
            .where(ThemeMember.run_id == run_id, Contribution.created_at >= since)
            .group_by(ThemeMember.number, Contribution.label)
        )
        found: dict[int, tuple[int, dict[str, int]]] = {}
        for number, label, count in rows:
            size, mix = found.get(number, (0, dict.fromkeys(LABELS, 0)))
            mix[label if label in mix else "unscored"] += count
            found[number] = (size + count, mix)
        return found

    async def names(self) -> dict[int, str]:
        rows = await self.session.execute(select(ThemeName.number, ThemeName.label))
        return dict(rows.all())

    async def pins(self, idea_ids: Iterable[int] | None = None) -> dict[int, int]:
        query = select(ThemePin.contribution_id, ThemePin.number)
        if idea_ids is not None:
            query = query.where(ThemePin.contribution_id.in_(list(idea_ids)))
        return dict((await self.session.execute(query)).all())

    async def rename(self, number: int, label: str, by: str, now: datetime) -> str | None:
        """Name a theme; returns its previous name (None when it had none)."""
        row = await self.session.get(ThemeName, number, with_for_update=True)
        if row is None:
            self.session.add(ThemeName(number=number, label=label, renamed_by=by, renamed_at=now))
            await self.session.flush()
            return None
        previous = row.label
        row.label, row.renamed_by, row.renamed_at = label, by, now
        await self.session.flush()
        return previous

    async def theme_run_of(self, number: int) -> int | None:
        """The current themes run that has a theme with this number."""
        return await self.session.scalar(
            select(Theme.run_id)
            .join(InsightRun, InsightRun.id == Theme.run_id)
            .where(Theme.number == number, InsightRun.status == "current")
        )

    async def move(self, idea_id: int, number: int, label: str, by: str, now: datetime) -> None:
        """Put an idea into a theme of the current run and pin it there for later runs.
        `label` is the idea's sentiment label, to keep the theme's mix right."""
        run_id = await self.theme_run_of(number)
        if run_id is None:
            raise ValueError(f"no current theme {number}")
        column = label if label in LABELS else "unscored"
        old = await self.session.scalar(
            select(ThemeMember.number).where(
                ThemeMember.run_id == run_id, ThemeMember.contribution_id == idea_id
            )
        )
        if old != number:
            if old is not None:
                await self._count(run_id, old, column, -1)
                await self.session.execute(
                    update(ThemeMember)
                    .where(ThemeMember.run_id == run_id, ThemeMember.contribution_id == idea_id)
                    .values(number=number, weight=1.0)
                )
            else:
                await self.add_members(run_id, [(idea_id, number, 1.0)])
            await self._count(run_id, number, column, 1)
        pin = await self.session.get(ThemePin, idea_id, with_for_update=True)
        if pin is None:
            self.session.add(
                ThemePin(contribution_id=idea_id, number=number, pinned_by=by, pinned_at=now)
            )
        else:
            pin.number, pin.pinned_by, pin.pinned_at = number, by, now
        await self.session.flush()

    async def _count(self, run_id: int, number: int, column: str, change: int) -> None:
        await self.session.execute(
            update(Theme)
            .where(Theme.run_id == run_id, Theme.number == number)
            .values(size=Theme.size + change, **{column: getattr(Theme, column) + change})
        )
