"""Public posts (X) in the store: their reach (public metrics, kept beside the
contribution and refreshed while the post is young), and finding a stored post by its
text, for a classic "RT @user: ..." retweet that names no post id."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storage.contributions import contribution_record
from storage.models import Contribution, PostMetrics
from storage.records import ContributionRecord

METRICS = ("likes", "reposts", "replies", "quotes")


def _counts(metrics: Mapping[str, int]) -> dict[str, int]:
    return {name: max(0, int(metrics.get(name) or 0)) for name in METRICS}


class PublicPosts:
    def __init__(self, session: AsyncSession, backend: str) -> None:
        self.session = session
        self.backend = backend

    async def record_metrics(
        self,
        contribution_id: int,
        posted_at: datetime,
        metrics: Mapping[str, int],
        now: datetime,
    ) -> None:
        """Keep (or replace) the reach of a stored post."""
        insert = postgresql.insert if self.backend == "postgresql" else sqlite.insert
        counts = _counts(metrics)
        statement = insert(PostMetrics).values(
            contribution_id=contribution_id, posted_at=posted_at, refreshed_at=now, **counts
        )
        statement = statement.on_conflict_do_update(
            index_elements=["contribution_id"], set_={**counts, "refreshed_at": now}
        )
        await self.session.execute(statement)

    async def update_metrics(
        self, contribution_id: int, metrics: Mapping[str, int], now: datetime
    ) -> bool:
        result = await self.session.execute(
            update(PostMetrics)
            .where(PostMetrics.contribution_id == contribution_id)
            .values(**_counts(metrics), refreshed_at=now)
        )
        return cast("CursorResult[Any]", result).rowcount == 1

    async def touch(self, contribution_ids: list[int], now: datetime) -> None:
        """Mark posts as looked at (e.g. deleted on the platform), so others go first."""
        if contribution_ids:
            await self.session.execute(
                update(PostMetrics)
                .where(PostMetrics.contribution_id.in_(contribution_ids))
                .values(refreshed_at=now)
            )

    async def due_for_refresh(
        self,
        channel: str,
        *,
        posted_after: datetime,
        refreshed_before: datetime,
        limit: int = 100,
    ) -> dict[str, int]:
        """Post id -> contribution id of young posts whose reach is oldest news first."""
        rows = await self.session.execute(
            select(Contribution.channel_message_id, Contribution.id)
            .join(PostMetrics, PostMetrics.contribution_id == Contribution.id)
            .where(
                Contribution.channel == channel,
                PostMetrics.posted_at >= posted_after,
                PostMetrics.refreshed_at < refreshed_before,
            )
            .order_by(PostMetrics.refreshed_at, PostMetrics.contribution_id)
            .limit(limit)
        )
        return dict(rows.all())

    async def metrics_of(self, contribution_id: int) -> dict[str, int] | None:
        row = await self.session.get(PostMetrics, contribution_id)
        if row is None:
            return None
        return {name: getattr(row, name) for name in METRICS}

    async def reach(self, channel: str) -> dict[str, int]:
        """Totals over the channel's stored posts: how many, and their reach."""
        row = (
            await self.session.execute(
                select(
                    func.count(PostMetrics.contribution_id),
                    *(func.coalesce(func.sum(getattr(PostMetrics, name)), 0) for name in METRICS),
                )
                .join(Contribution, PostMetrics.contribution_id == Contribution.id)
                .where(Contribution.channel == channel)
            )
        ).one()
        return {
            "posts": int(row[0]),
            **{name: int(v) for name, v in zip(METRICS, row[1:], strict=True)},
        }

    async def find_by_text(
        self, channel: str, text: str, *, prefix: bool = False
    ) -> ContributionRecord | None:
        """The earliest stored post of the channel with exactly this text (or, with
        `prefix`, starting with it: a retweet's copy may be cut short)."""
        match = (
            Contribution.text.startswith(text, autoescape=True)
            if prefix
            else (Contribution.text == text)
        )
        row = await self.session.scalar(
            select(Contribution)
            .where(Contribution.channel == channel, match)
            .order_by(Contribution.id)
            .limit(1)
        )
        return contribution_record(row) if row else None
