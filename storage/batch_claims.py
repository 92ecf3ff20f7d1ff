"""Claiming a message's id in the batch's transaction, so that a message is applied at
most once: one at a time (`claim`), a whole PostgreSQL batch's in one statement
(`claim_early`), and a claim taken back (`unclaim`) when a message decided again turns
out to store nothing."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import ARRAY, Connection, String, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert

from storage.batch_types import Message
from storage.bookkeeping import _insert
from storage.driver_sql import DriverStatement
from storage.models import UTCDateTime
from storage.tables import PROCESSED


@cache
def _claim_statement(dialect: str) -> Any:
    return (
        _insert(dialect)(PROCESSED)
        .values(
            channel=bindparam("channel"),
            message_id=bindparam("message_id"),
            processed_at=bindparam("now"),
        )
        .on_conflict_do_nothing(index_elements=["channel", "message_id"])
    )


CLAIM = DriverStatement(_claim_statement)
UNCLAIM = DriverStatement(
    delete(PROCESSED).where(
        PROCESSED.c.channel == bindparam("channel"),
        PROCESSED.c.message_id == bindparam("message_id"),
    )
)


def _claims_statement() -> Any:
    """PostgreSQL: many message ids claimed in one statement (arrays unnested, so one
    statement whatever their number); RETURNING names those that were new."""
    rows = (
        func.unnest(
            bindparam("channels", type_=ARRAY(String)),
            bindparam("message_ids", type_=ARRAY(String)),
            bindparam("nows", type_=ARRAY(UTCDateTime())),
        )
        .table_valued("channel", "message_id", "processed_at")
        .render_derived(name="claims")
    )
    return (
        postgresql_insert(PROCESSED)
        .from_select(
            ["channel", "message_id", "processed_at"],
            select(rows.c.channel, rows.c.message_id, rows.c.processed_at),
        )
        .on_conflict_do_nothing(index_elements=["channel", "message_id"])
        .returning(PROCESSED.c.channel, PROCESSED.c.message_id)
    )


CLAIMS = DriverStatement(_claims_statement())


def claim_early(write: Connection, messages: Mapping[int, Message]) -> dict[int, bool]:
    """PostgreSQL: claim these messages' ids (by batch index) in one round trip instead of
    one each. True: claimed now; False: applied before (a resent copy). An id twice in
    the batch is left to its later copy's own claim (not in the result), so whatever
    becomes of the first copy, the second is judged as it is applied."""
    first: dict[tuple[str, str], int] = {}
    for index, message in messages.items():
        first.setdefault((message.channel, message.message_id), index)
    if not first:
        return {}
    keys = list(first)
    params = {
        "channels": [channel for channel, _ in keys],
        "message_ids": [message_id for _, message_id in keys],
        "nows": [messages[first[key]].now for key in keys],
    }
    new = {(row.channel, row.message_id) for row in CLAIMS.rows(write, params)}
    return {index: key in new for key, index in first.items()}


def claim(write: Connection, message: Message) -> bool:
    """Record the message's id; False when it had been applied before."""
    params = {"channel": message.channel, "message_id": message.message_id, "now": message.now}
    return CLAIM.execute(write, params).rowcount == 1


def unclaim(write: Connection, message: Message) -> None:
    """Take back the claim of a message that, decided again, stores nothing."""
    UNCLAIM.execute(write, {"channel": message.channel, "message_id": message.message_id})
