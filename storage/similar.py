"""Pairs of ideas that may say the same thing, found by a background job, and the
moderators' decisions on them (merged, or dismissed so they are not offered again)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import Contribution, SimilarPair


@dataclass(frozen=True)
class IdeaText:
    id: int
    text: str
    label: str
    agree: int
    disagree: int
    skip: int
    channel: str
    question_id: int | None
    duplicate_of: int | None
    status: str
    participant_id: int
    number: int | None = None  # the idea number people see ("idea 7")


@dataclass(frozen=True)
class PairRecord:
    idea: IdeaText
    other: IdeaText
    similarity: float


def _insert(backend: str) -> Any:
    return postgresql.insert if backend == "postgresql" else sqlite.insert


class Similar:
    def __init__(self, session: AsyncSession, backend: str) -> None:
        self.session = session
        self.backend = backend

    async def save_pairs(
        self, question_id: int | None, pairs: Iterable[tuple[int, int, float]], now: datetime
    ) -> int:
        """Record newly found pairs; pairs already decided keep their decision."""
        rows = [
            {
                "question_id": question_id,
                "idea_id": min(a, b),
                "other_id": max(a, b),
                "similarity": round(similarity, 4),
                "status": "open",
                "found_at": now,
            }
            for a, b, similarity in pairs
        ]
        for start in range(0, len(rows), 1000):
            statement = _insert(self.backend)(SimilarPair).values(rows[start : start + 1000])
            statement = statement.on_conflict_do_nothing(index_elements=["idea_id", "other_id"])
            await self.session.execute(statement)
        return len(rows)

    async def open_pairs(
        self, question_id: int | None, *, limit: int, since: datetime | None = None
    ) -> list[PairRecord]:
        """Open pairs whose two ideas are both still visible and unmerged, most alike
        first; with `since`, only pairs where either idea was posted since then."""
        first, second = aliased(Contribution), aliased(Contribution)
        query = (
            select(SimilarPair.similarity, first, second)
            .join(first, first.id == SimilarPair.idea_id)
            .join(second, second.id == SimilarPair.other_id)
            .where(
                SimilarPair.status == "open",
                first.status == "visible",
                second.status == "visible",
                first.duplicate_of.is_(None),
                second.duplicate_of.is_(None),
            )
            .order_by(SimilarPair.similarity.desc(), SimilarPair.id)
            .limit(limit)
        )
        if question_id is not None:
            query = query.where(SimilarPair.question_id == question_id)
        if since is not None:
            query = query.where(or_(first.created_at >= since, second.created_at >= since))
        return [
            PairRecord(_idea_text(a), _idea_text(b), similarity)
            for similarity, a, b in await self.session.execute(query)
        ]

    async def decide_pair(
        self,
        idea_id: int,
        other_id: int,
        status: str,
        by: str,
        now: datetime,
        *,
        question_id: int | None = None,
    ) -> None:
        """Record a moderator's decision on two ideas, whether or not the search had
        offered them (a pair dismissed by hand is then never offered later)."""
        statement = _insert(self.backend)(SimilarPair).values(
            question_id=question_id,
            idea_id=min(idea_id, other_id),
            other_id=max(idea_id, other_id),
            similarity=0.0,  # not measured: the team paired them
            status=status,
            found_at=now,
            decided_by=by,
            decided_at=now,
        )
        statement = statement.on_conflict_do_update(
            index_elements=["idea_id", "other_id"],
            set_={"status": status, "decided_by": by, "decided_at": now},
        )
        await self.session.execute(statement)

    async def ideas(self, idea_ids: Iterable[int]) -> dict[int, IdeaText]:
        ids = list(idea_ids)
        if not ids:
            return {}
        rows = await self.session.scalars(select(Contribution).where(Contribution.id.in_(ids)))
        return {row.id: _idea_text(row) for row in rows}


def _idea_text(row: Contribution) -> IdeaText:
    return IdeaText(
        id=row.id,
        text=row.text,
        label=row.label,
        agree=row.agree_count,
        disagree=row.disagree_count,
        skip=row.skip_count,
        channel=row.channel,
        question_id=row.question_id,
        duplicate_of=row.duplicate_of,
        status=row.status,
        participant_id=row.participant_id,
        number=row.idea_number,
    )
