"""A test participant who talks to the engine the way any channel would."""

from __future__ import annotations

import itertools

from handlers.engine import Engine
from handlers.types import Inbound, Outcome, Reply

_ids = itertools.count(1)
# The media the tests' channel names stand for, as the channels declare them.
MEDIA = {"sms": "sms", "voice": "call", "web": "web", "console": "terminal", "x": "public"}

# Ideas unlike one another, so none is offered as "like" another when they are shared.
DISTINCT_IDEAS = (
    "Physios in every GP surgery",
    "Evening x-ray clinics for people who work",
    "Free hospital parking for carers",
    "Text reminders before podiatry appointments",
    "Speech therapy in nursery schools",
    "Dietitians visiting care homes each month",
)


class Person:
    def __init__(
        self, engine: Engine, sender: str, channel: str = "console", *, buttons: bool = False
    ) -> None:
        self.engine = engine
        self.sender = sender
        self.channel = channel
        self.buttons = buttons  # the channel shows choices as buttons
        self.last: Outcome = Outcome()

    @property
    def pseudonym(self) -> str:
        return self.engine.pseudonym(self.channel, self.sender)

    async def send(
        self, text: str = "", *, payload: str | None = None, message_id: str | None = None
    ) -> Outcome:
        inbound = Inbound(
            channel=self.channel,
            sender=self.sender,
            message_id=message_id or f"m{next(_ids)}",
            received_at=self.engine.clock(),
            text=text,
            payload=payload,
            buttons=self.buttons,
            medium=MEDIA.get(self.channel, "chat"),
        )
        self.last = await self.engine.handle(inbound)
        return self.last

    async def say(self, text: str, **kwargs) -> list[Reply]:
        return list((await self.send(text, **kwargs)).replies)

    async def press(self, payload: str) -> list[Reply]:
        return list((await self.send(payload=payload)).replies)

    @property
    def keys(self) -> list[str]:
        return [reply.key for reply in self.last.replies]

    @property
    def text(self) -> str:
        return "\n".join(reply.text for reply in self.last.replies)

    @property
    def choices(self) -> list[str]:
        replies = [r for r in self.last.replies if r.choices]
        return [c.payload for c in replies[-1].choices] if replies else []

    async def join(self, *, answers: tuple[str, ...] = ("skip", "skip", "skip")) -> None:
        """Consent and answer (or skip) the three gateway questions by text."""
        await self.say("START")
        await self.say("yes")
        for answer in answers:
            await self.say(answer)
