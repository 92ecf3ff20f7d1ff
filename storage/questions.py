"""Consultation questions: synced from config.yaml into the store at start."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Question
from storage.records import QuestionRecord


def _record(row: Question) -> QuestionRecord:
    return QuestionRecord(row.id, row.key, row.text, row.opens_at, row.closes_at)


class Questions:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def sync(
        self, questions: Iterable[tuple[str, str, datetime, datetime]]
    ) -> dict[str, int]:
        """Insert or update questions by key; returns key -> id for all of them."""
        existing = {q.key: q for q in (await self.session.scalars(select(Question))).all()}
        for key, text, opens_at, closes_at in questions:
            row = existing.get(key)
            if row is None:
                row = Question(key=key, text=text, opens_at=opens_at, closes_at=closes_at)
                self.session.add(row)
                existing[key] = row
            else:
                row.text, row.opens_at, row.closes_at = text, opens_at, closes_at
        await self.session.flush()
        return {key: row.id for key, row in existing.items()}

    async def all(self) -> list[QuestionRecord]:
        rows = await self.session.scalars(select(Question).order_by(Question.id))
        return [_record(row) for row in rows]

    async def ids_by_key(self) -> dict[str, int]:
        rows = await self.session.execute(select(Question.key, Question.id))
        return {key: id_ for key, id_ in rows}
