"""The X listener's table: the reach of stored public posts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.core import Base, BigId


class PostMetrics(Base):
    """Reach of a stored public post (likes, reposts, replies, quotes), refreshed while
    the post is young. Goes with its contribution when that is erased."""

    __tablename__ = "x_post_metrics"
    __table_args__ = (Index("ix_x_post_metrics_posted", "posted_at"),)

    contribution_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("contributions.id", ondelete="CASCADE"), primary_key=True
    )
    posted_at: Mapped[datetime]
    likes: Mapped[int] = mapped_column(Integer, default=0)
    reposts: Mapped[int] = mapped_column(Integer, default=0)
    replies: Mapped[int] = mapped_column(Integer, default=0)
    quotes: Mapped[int] = mapped_column(Integer, default=0)
    refreshed_at: Mapped[datetime]
