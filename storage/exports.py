"""Rows for exports, streamed in batches so a large store never sits in memory at once.

Participants appear only by pseudonym; no platform id is stored anywhere to export.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Contribution, Participant, Question

CONTRIBUTION_COLUMNS = (
    "id",
    "kind",
    "question",
    "parent_id",
    "participant",
    "channel",
    "language",
    "assisted",
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
)


async def contribution_rows(session: AsyncSession, *, batch: int = 1000) -> AsyncIterator[dict]:
    query = (
        select(Contribution, Question.key, Participant.pseudonym)
        .join(Question, Contribution.question_id == Question.id, isouter=True)
        .join(Participant, Contribution.participant_id == Participant.id)
        .order_by(Contribution.id)
        .execution_options(yield_per=batch)
    )
    result = await session.stream(query)
    async for contribution, question_key, pseudonym in result:
        yield {
            "id": contribution.id,
            "kind": contribution.kind,
            "question": question_key,
            "parent_id": contribution.parent_id,
            "participant": pseudonym,
            "channel": contribution.channel,
            "language": contribution.language,
            "assisted": contribution.assisted,
            "status": contribution.status,
            "label": contribution.label,
            "polarity": contribution.polarity,
            "subjectivity": contribution.subjectivity,
            "agree": contribution.agree_count,
            "disagree": contribution.disagree_count,
            "skip": contribution.skip_count,
            "score": round(contribution.score, 4),
            "duplicate_of": contribution.duplicate_of,
            "created_at": contribution.created_at.isoformat(),
            "text": contribution.text,
        }
