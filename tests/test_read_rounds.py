"""A vote asks for all it will read at once: each round of loading decides the message
again from the start (handlers/conversation.py), so a vote that asked for its reads one
by one cost the writer four decisions. (An idea's rounds: tests/test_limits_and_replays.py.)"""

from __future__ import annotations

import pytest

import handlers.conversation
from handlers.engine import Engine
from tests.people import DISTINCT_IDEAS, Person


@pytest.fixture
def decisions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The text of every message each time it is decided."""
    seen: list[str] = []
    real = handlers.conversation.decide

    def counting(deps, pending, person, reads, rng):
        seen.append(pending.text)
        return real(deps, pending, person, reads, rng)

    monkeypatch.setattr(handlers.conversation, "decide", counting)
    return seen


async def test_a_vote_loads_its_reads_in_one_round(engine: Engine, decisions: list[str]) -> None:
    for number, idea in enumerate(DISTINCT_IDEAS[:3]):
        author = Person(engine, f"author-{number}")
        for text in ("START", "YES", "SKIP", "SKIP", "SKIP", idea):
            await author.say(text)
    voter = Person(engine, "voter")
    for text in ("START", "YES", "SKIP", "SKIP", "SKIP"):
        await voter.say(text)
    await voter.say("VOTE")
    for choice in ("1", "2"):
        decisions.clear()
        replies = await voter.say(choice)
        assert replies[-1].key == "vote_card"
        # Once with nothing loaded, once with the vote limit's count, the idea and the
        # next ideas to show.
        assert decisions == [choice, choice]
