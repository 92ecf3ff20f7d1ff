"""The copy of replies waiting for a provider (bot/channels/unsent_replies.py), step by
step against a recording engine with a clock the test moves: kept at the first failed
try, moved on only once half its hold has passed, removed once sent, due at once when
Chorus stops."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.channels.unsent_replies import HOLD, UnsentReplies

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
ASKED = "Which best describes you?\n\n1. A patient"


@dataclass
class RecordingEngine:
    now: datetime = START
    calls: list[tuple] = field(default_factory=list)
    next_id: int = 1

    def clock(self) -> datetime:
        return self.now

    async def keep_for_later(self, channel, sender, text, *, due=None, replacing=None):
        self.calls.append(("keep", text, due, replacing))
        self.next_id += 1
        return self.next_id - 1

    async def drop_kept(self, outbox_id: int) -> None:
        self.calls.append(("drop", outbox_id))


@dataclass
class Services:
    engine: RecordingEngine


def copy_of(engine: RecordingEngine, unsent: list[str | None]) -> UnsentReplies:
    """The copy of a send whose texts still to send are `unsent`, as the test changes it."""
    return UnsentReplies(Services(engine), "telegram", "42", lambda: unsent)  # type: ignore[arg-type]


async def test_kept_at_the_first_failure_moved_on_at_half_the_hold_removed_once_sent() -> None:
    engine = RecordingEngine()
    unsent: list[str | None] = [ASKED, None]
    copy = copy_of(engine, unsent)
    await copy.waiting()
    assert engine.calls == [("keep", ASKED, START + HOLD, None)]
    engine.now = START + HOLD / 2 - timedelta(seconds=1)
    await copy.waiting()
    assert len(engine.calls) == 1  # not yet: the copy is due long after the next try
    engine.now = START + HOLD / 2 + timedelta(seconds=1)
    await copy.waiting()
    assert engine.calls[-1] == (
        "keep", ASKED, engine.now + HOLD, 1
    )  # fmt: skip
    unsent.clear()
    await copy.settle(stopping=False)
    assert engine.calls[-1] == ("drop", 2)


async def test_stopping_makes_the_copy_due_at_once_with_what_is_left() -> None:
    engine = RecordingEngine()
    unsent: list[str | None] = ["First", "Second"]
    copy = copy_of(engine, unsent)
    await copy.waiting()
    del unsent[0]
    await copy.settle(stopping=True)
    assert engine.calls[-1] == ("keep", "Second", None, 1)


async def test_without_a_failure_nothing_is_written_unless_stopping() -> None:
    engine = RecordingEngine()
    await copy_of(engine, []).settle(stopping=False)
    await copy_of(engine, ["Unsent after an unexpected error"]).settle(stopping=False)
    assert engine.calls == []
    await copy_of(engine, ["Cut off by the stop"]).settle(stopping=True)
    assert engine.calls == [("keep", "Cut off by the stop", None, None)]
