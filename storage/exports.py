"""Rows for exports, streamed in batches so a large store never sits in memory at once.

Participants appear only by pseudonym; no platform id is stored anywhere to export.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.grouping import Grouping
from storage.models import (
    Contribution,
    IdeaScore,
    InsightRun,
    Participant,
    Question,
    Theme,
    ThemeMember,
    ThemeName,
)

CONTRIBUTION_COLUMNS = (
    "id",
    "kind",
    "idea_number",
    "question",
    "parent_id",
    "participant",
    "role_group",
    "role",
    "region",
    "age_band",
    "channel",
    "language",
    "assisted",
    "worker_code",
    "status",
    "label",
    "polarity",
    "subjectivity",
    "agree",
    "disagree",
    "skip",
    "score",
    "duplicate_of",
    "created_at",
    "text",
    "sentiment_confidence",  # added later: new columns go last, so readers keep working
)


# Pseudonyms are cut to this many characters in exports, and lengthened as far as needed
# for no two people in one export to share one.
SHORT_PSEUDONYM = 12


def shortest_unique_length(pseudonyms: Iterable[str], minimum: int = SHORT_PSEUDONYM) -> int:
    """The shortest prefix length, at least `minimum`, that tells all pseudonyms apart."""
    ordered = sorted(set(pseudonyms))
    length = minimum
    for before, after in zip(ordered, ordered[1:], strict=False):
        shared = len(os.path.commonprefix([before, after]))
        length = max(length, shared + 1)
    return length


async def pseudonym_length(
    session: AsyncSession, *, question_id: int | None = None, since: datetime | None = None
) -> int:
    """The pseudonym length for an export of these contributions (see SHORT_PSEUDONYM)."""
    query = _scoped(
        select(Participant.pseudonym)
        .join(Contribution, Contribution.participant_id == Participant.id)
        .distinct(),
        question_id,
        since,
    )
    return shortest_unique_length(await session.scalars(query))


def _rounded(value: float | None) -> float | None:
    """Four decimals, as a spreadsheet reader wants them (a model gives seventeen)."""
    return round(value, 4) if value is not None else None


_Q = TypeVar("_Q", bound=Select)


def _scoped(query: _Q, question_id: int | None, since: datetime | None) -> _Q:
    if question_id is not None:
        query = query.where(Contribution.question_id == question_id)
    if since is not None:
        query = query.where(Contribution.created_at >= since)
    return query


async def contribution_rows(
    session: AsyncSession,
    *,
    batch: int = 1000,
    question_id: int | None = None,
    since: datetime | None = None,
    grouping: Grouping | None = None,
) -> AsyncIterator[dict]:
    """Every contribution with who said it as they described themselves then (role, its
    group, region, age band) and a shortened pseudonym, unique within the export."""
    grouping = grouping or Grouping()
    length = await pseudonym_length(session, question_id=question_id, since=since)
    query = (
        select(Contribution, Question.key, Participant.pseudonym)
        .join(Question, Contribution.question_id == Question.id, isouter=True)
        .join(Participant, Contribution.participant_id == Participant.id)
        .order_by(Contribution.id)
        .execution_options(yield_per=batch)
    )
    query = _scoped(query, question_id, since)
    result = await session.stream(query)
    async for contribution, question_key, pseudonym in result:
        yield {
            "id": contribution.id,
            "kind": contribution.kind,
            "idea_number": contribution.idea_number,
            "question": question_key,
            "parent_id": contribution.parent_id,
            "participant": pseudonym[:length],
            "role_group": grouping.group(contribution.role) or None,
            "role": contribution.role,
            "region": contribution.region,
            "age_band": contribution.age_band,
            "channel": contribution.channel,
            "language": contribution.language,
            "assisted": contribution.assisted,
            "worker_code": contribution.worker_code,
            "status": contribution.status,
            "label": contribution.label,
            "polarity": _rounded(contribution.polarity),
            "subjectivity": _rounded(contribution.subjectivity),
            "agree": contribution.agree_count,
            "disagree": contribution.disagree_count,
            "skip": contribution.skip_count,
            "score": round(contribution.score, 4),
            "duplicate_of": contribution.duplicate_of,
            "created_at": contribution.created_at.isoformat(),
            "text": contribution.text,
            "sentiment_confidence": _rounded(contribution.sentiment_confidence),
        }


def _current_theme_runs() -> Select[int]:
    return select(InsightRun.id).where(InsightRun.kind == "themes", InsightRun.status == "current")


async def idea_rows(
    session: AsyncSession,
    *,
    batch: int = 1000,
    question_id: int | None = None,
    since: datetime | None = None,
    grouping: Grouping | None = None,
) -> AsyncIterator[dict]:
    """One row per idea: its vote counts, scores and theme (raw counts; the writer
    states the vote coding), and who wrote it as they described themselves then."""
    grouping = grouping or Grouping()
    member = and_(
        ThemeMember.contribution_id == Contribution.id,
        ThemeMember.run_id.in_(_current_theme_runs()),
    )
    query = (
        select(
            Contribution,
            Question.key,
            IdeaScore.controversy,
            IdeaScore.consensus,
            ThemeMember.number,
            func.coalesce(ThemeName.label, Theme.label),
        )
        .join(Question, Contribution.question_id == Question.id, isouter=True)
        .join(IdeaScore, IdeaScore.contribution_id == Contribution.id, isouter=True)
        .join(ThemeMember, member, isouter=True)
        .join(
            Theme,
            and_(Theme.run_id == ThemeMember.run_id, Theme.number == ThemeMember.number),
            isouter=True,
        )
        .join(ThemeName, ThemeName.number == ThemeMember.number, isouter=True)
        .where(Contribution.kind == "idea")
        .order_by(Contribution.id)
        .execution_options(yield_per=batch)
    )
    result = await session.stream(_scoped(query, question_id, since))
    async for idea, key, controversy, consensus, theme, theme_label in result:
        yield {
            "id": idea.id,
            "idea_number": idea.idea_number,
            "question": key,
            "role_group": grouping.group(idea.role) or None,
            "role": idea.role,
            "region": idea.region,
            "age_band": idea.age_band,
            "channel": idea.channel,
            "language": idea.language,
            "status": idea.status,
            "duplicate_of": idea.duplicate_of,
            "label": idea.label,
            "theme": theme,
            "theme_label": theme_label,
            "agree": idea.agree_count,
            "disagree": idea.disagree_count,
            "skip": idea.skip_count,
            "score": round(idea.score, 4),
            "controversy": round(controversy, 4) if controversy is not None else None,
            "consensus": round(consensus, 4) if consensus is not None else None,
            "created_at": idea.created_at.isoformat(),
            "text": idea.text,
            "sentiment_confidence": _rounded(idea.sentiment_confidence),
        }


async def _theme_mix(
    session: AsyncSession, column: Any, runs: Select[int]
) -> dict[tuple[int, int], str]:
    """(run, theme number) -> "telegram 5, sms 3": the theme's ideas by one column."""
    value = func.coalesce(column, "")
    rows = await session.execute(
        select(ThemeMember.run_id, ThemeMember.number, value, func.count())
        .join(Contribution, Contribution.id == ThemeMember.contribution_id)
        .where(ThemeMember.run_id.in_(runs))
        .group_by(ThemeMember.run_id, ThemeMember.number, value)
    )
    found: dict[tuple[int, int], list[tuple[str, int]]] = {}
    for run, number, name, count in rows:
        found.setdefault((run, number), []).append((name or "not given", count))
    return {
        key: ", ".join(f"{name} {count}" for name, count in sorted(items, key=lambda i: -i[1]))
        for key, items in found.items()
    }


async def theme_rows(session: AsyncSession, *, question_id: int | None = None) -> list[dict]:
    runs = _current_theme_runs()
    if question_id is not None:
        runs = runs.where(InsightRun.question_id == question_id)
    channels = await _theme_mix(session, Contribution.channel, runs)
    languages = await _theme_mix(session, Contribution.language, runs)
    query = (
        select(Theme, Question.key, ThemeName.label, InsightRun.finished_at)
        .join(InsightRun, InsightRun.id == Theme.run_id)
        .join(Question, Question.id == InsightRun.question_id, isouter=True)
        .join(ThemeName, ThemeName.number == Theme.number, isouter=True)
        .where(InsightRun.kind == "themes", InsightRun.status == "current")
        .order_by(Question.key, Theme.size.desc(), Theme.number)
    )
    if question_id is not None:
        query = query.where(InsightRun.question_id == question_id)
    return [
        {
            "question": key,
            "theme": theme.number,
            "label": name or theme.label,
            "top_terms": ", ".join(theme.terms or []),
            "ideas": theme.size,
            "positive": theme.positive,
            "neutral": theme.neutral,
            "negative": theme.negative,
            "unscored": theme.unscored,
            "channels": channels.get((theme.run_id, theme.number), ""),
            "languages": languages.get((theme.run_id, theme.number), ""),
            "representative_ideas": ", ".join(str(i) for i in theme.representatives or []),
            "as_of": finished.isoformat() if finished else None,
        }
        for theme, key, name, finished in await session.execute(query)
    ]
