"""Limits per person (`limits:` in config.yaml), decided by pure functions.

A flood from one person — a script, a stuck phone, a test that got out of hand — must not
fill the store: past a limit the message is answered with one polite reply and nothing is
stored. What counts is read by the caller (ideas and comments in the last hour and votes
in the last minute: reads the batch writer loads as `NeedRead` keys; messages in the last
minute in memory, per worker, by `MessageRate`, and on PostgreSQL also in the store across
workers, storage/message_counts.py), so the decision itself is a function of numbers and
the config.

The config also holds how long the replies to a message are kept, so that a message the
provider sends again is answered the same way (handlers/replay.py).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from handlers.catalogue import Catalogue
from handlers.context import (
    Context,
    ReadKey,
    contributions_since_read,
    same_idea_read,
    votes_since_read,
)
from handlers.settings import LimitsConfig
from handlers.types import Reply
from storage.effects import Decision
from storage.message_counts import MessageCounts

# The windows the limits count over (`limits:` names the counts: per hour, per minute).
CONTRIBUTIONS_WINDOW = timedelta(hours=1)
VOTES_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class Activity:
    """What one person did recently, as counted by the caller."""

    ideas_last_hour: int = 0
    comments_last_hour: int = 0
    votes_last_minute: int = 0


# The catalogue key of the polite reply for each kind of contribution.
REPLY_KEYS = {"idea": "limit_ideas", "comment": "limit_comments", "vote": "limit_votes"}


def over_limit(kind: str, activity: Activity, limits: LimitsConfig) -> str | None:
    """The catalogue key of the polite reply when one more `kind` ("idea", "comment",
    "vote") would go over its limit, else None."""
    used, allowed = {
        "idea": (activity.ideas_last_hour, limits.ideas_per_hour),
        "comment": (activity.comments_last_hour, limits.comments_per_hour),
        "vote": (activity.votes_last_minute, limits.votes_per_minute),
    }[kind]
    return REPLY_KEYS[kind] if used >= allowed else None


class MessageRate:
    """Messages per minute per person, in this worker's memory (a sliding minute).

    `check` answers "ok", "tell" (over the limit: reply politely, once) or "quiet" (still
    over the limit and already told: no reply at all, so a flood gets one answer)."""

    WINDOW = 60.0
    MAX_PEOPLE = 50_000  # the least recently seen are forgotten first

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._seen: OrderedDict[str, tuple[deque[float], list[bool]]] = OrderedDict()

    def check(self, who: str) -> str:
        now = self.clock()
        times, told = self._seen.pop(who) if who in self._seen else (deque(), [False])
        self._seen[who] = (times, told)
        while times and now - times[0] >= self.WINDOW:
            times.popleft()
        if len(self._seen) > self.MAX_PEOPLE:
            self._seen.popitem(last=False)
        if len(times) >= self.per_minute:
            if told[0]:
                return "quiet"
            told[0] = True
            return "tell"
        times.append(now)
        told[0] = False
        return "ok"


def message_limit_reply() -> Reply:
    return Reply(Catalogue().text("limit_messages"), key="limit_messages")


def shared_message_counts(limits: LimitsConfig) -> MessageCounts:
    """`messages_per_minute` counted in the store by the batch writer, so that it holds
    across PostgreSQL workers: past it, the polite reply once, then silence."""

    def refusal(tell: bool) -> Decision:
        return Decision((message_limit_reply(),) if tell else (), claim=False)

    return MessageCounts(limits.messages_per_minute, refusal)


def refusal_reads(ctx: Context, kind: str, text: str | None = None) -> tuple[ReadKey, ...]:
    """The reads `contribution_refusal` makes (none for a person not stored yet), for a
    flow that asks for them together with its own: one round of loading."""
    person = ctx.participant.id
    if not person:  # not stored yet: nothing done before this message
        return ()
    if kind == "vote":
        return (votes_since_read(person, ctx.now - VOTES_WINDOW),)
    keys = [contributions_since_read(person, kind, ctx.now - CONTRIBUTIONS_WINDOW)]
    if kind == "idea" and text is not None:
        # Stored ideas are cleaned and redacted, as the enrichment's text: compare like
        # with like.
        keys.append(same_idea_read(person, ctx.enrich(text).text))
    return tuple(keys)


def contribution_refusal(ctx: Context, kind: str, text: str | None = None) -> Reply | None:
    """The polite reply when this person may not add one more `kind` now — over a limit,
    or (for an idea) the same text as one of their ideas — else None. The counts are
    reads the batch writer loads (`NeedRead`, all in one round); nothing is written."""
    reads = refusal_reads(ctx, kind, text)
    if not reads:
        return None
    ctx.reads.need(*reads)
    count = cast(int, ctx.reads.get(reads[0]))
    if kind == "vote":
        activity = Activity(votes_last_minute=count)
    else:
        activity = Activity(
            ideas_last_hour=count if kind == "idea" else 0,
            comments_last_hour=count if kind == "comment" else 0,
        )
    key = over_limit(kind, activity, ctx.config.limits)
    if key is not None:
        return ctx.say(key)
    if len(reads) > 1:  # the number of their idea worded the same, if any
        number = cast(int | None, ctx.reads.get(reads[1]))
        if number is not None:
            return ctx.say("idea_again", number=number)
    return None
