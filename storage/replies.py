"""The replies to an applied message, kept with its processed id for a while.

When a provider sends a message again because our first answer was lost (Twilio resends
on a timeout), the batch writer (storage/batch.py) finds the id already processed and,
instead of an empty answer, gives back what it answered the first time. The replies are
stored as an opaque (encrypted) string made by handlers/replay.py and dropped after the
window. Plain statements on the batch's synchronous connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, select, update

from storage.driver_sql import DriverStatement
from storage.tables import PROCESSED

KEEP = DriverStatement(  # every message's replies: straight to the driver's cursor
    update(PROCESSED)
    .where(
        PROCESSED.c.channel == bindparam("k_channel"),
        PROCESSED.c.message_id == bindparam("k_message_id"),
    )
    .values(replies=bindparam("v_replies"))
)
FIND = select(PROCESSED.c.replies).where(
    PROCESSED.c.channel == bindparam("channel"),
    PROCESSED.c.message_id == bindparam("message_id"),
    PROCESSED.c.processed_at >= bindparam("since"),
)


def keep_many(connection: Connection, kept: Sequence[tuple[str, str, str]]) -> None:
    """(channel, message id, replies) of messages processed in this transaction."""
    if kept:
        params = [
            {"k_channel": channel, "k_message_id": message_id, "v_replies": replies}
            for channel, message_id, replies in kept
        ]
        KEEP.execute_many(connection, params)


def find(connection: Connection, channel: str, message_id: str, since: datetime) -> str | None:
    """What was kept for this message, if it was processed after `since`."""
    params = {"channel": channel, "message_id": message_id, "since": since}
    return connection.execute(FIND, params).scalar()


def drop_before(connection: Connection, cutoff: datetime) -> int:
    """Forget the replies of messages processed before `cutoff`; the ids stay."""
    result = connection.execute(
        update(PROCESSED)
        .where(PROCESSED.c.processed_at < cutoff, PROCESSED.c.replies.is_not(None))
        .values(replies=None)
    )
    return result.rowcount or 0
