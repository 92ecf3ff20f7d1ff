"""The replies to an applied message, kept with its processed id for a while.

When a provider sends a message again because our first answer was lost (Twilio resends
on a timeout), the engine finds the id already processed and, instead of an empty
answer, gives back what it answered the first time. The replies are stored as an opaque
(encrypted) string made by handlers/replay.py and dropped after the window.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ProcessedMessage


class KeptReplies:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def keep(self, channel: str, message_id: str, replies: str) -> None:
        await self.session.execute(
            update(ProcessedMessage)
            .where(ProcessedMessage.channel == channel, ProcessedMessage.message_id == message_id)
            .values(replies=replies)
        )

    async def find(self, channel: str, message_id: str, since: datetime) -> str | None:
        """What was kept for this message, if it was processed after `since`."""
        return await self.session.scalar(
            select(ProcessedMessage.replies).where(
                ProcessedMessage.channel == channel,
                ProcessedMessage.message_id == message_id,
                ProcessedMessage.processed_at >= since,
            )
        )

    async def drop_before(self, cutoff: datetime) -> int:
        """Forget the replies of messages processed before `cutoff`; the ids stay."""
        result = await self.session.execute(
            update(ProcessedMessage)
            .where(ProcessedMessage.processed_at < cutoff, ProcessedMessage.replies.is_not(None))
            .values(replies=None)
        )
        return result.rowcount or 0
