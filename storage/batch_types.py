"""What a batch of the grouped-commit writer is made of, as the store sees it: its
messages, what became of each (`Applied`), how replies are kept for a resent copy
(`Replays`), and the callables the engine hands in (`Decide`, `LookAhead`, `OnErase`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from storage.batch_reads import Reader
from storage.effects import Decision, Erase
from storage.records import ParticipantRecord


@dataclass(frozen=True)
class Message:
    """One message of a batch as the store sees it."""

    channel: str
    message_id: str
    pseudonym: str
    now: datetime


@dataclass(frozen=True)
class Applied:
    """What became of one message: its decision, and the number of a contribution it
    stored; `duplicate` when its id had been applied before (nothing changed)."""

    decision: Decision | None = None
    new_number: int | None = None
    duplicate: bool = False
    kept_replies: str | None = None  # a duplicate's replies kept from the first time
    to_keep: str | None = None  # an applied message's replies, kept for a resent copy


@dataclass(frozen=True)
class Replays:
    """How the replies of each applied message are kept with its processed id, so a
    resent copy is answered the same way (handlers/replay.py makes the opaque string)."""

    encode: Callable[[Decision, int | None], str]  # (decision, new number) -> kept
    window: timedelta  # a duplicate older than this gets no replies
    drop_before: datetime | None = None  # drop older replies in this batch


# decide(index, person snapshot, reader) -> Decision; called again on a stale snapshot.
Decide = Callable[[int, ParticipantRecord | None, Reader], Decision]
# look_ahead(each message's person snapshot, reader): PostgreSQL, before deciding any of
# them, so that what they will read is loaded for all at once (handlers/look_ahead.py).
LookAhead = Callable[[Sequence[ParticipantRecord | None], Reader], None]
# Applies an Erase effect through the repositories (it needs the contact key): called
# with a Unit on this transaction, the person's id and the effect; returns a coroutine.
OnErase = Callable[[Any, int | None, Erase], Any]


class Unread:
    """The person's row as this transaction sees it has not been read yet."""


UNREAD = Unread()
