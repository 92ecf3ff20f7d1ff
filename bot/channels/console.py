"""The terminal channel behind `chorus chat`: talk to Chorus as a participant would.

Choices print as a numbered list and typing the number picks one. On a terminal it is
interactive; with input from a pipe it reads one message per line and prints the
replies, so whole conversations can be scripted.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from bot.delivery import Delivery
from handlers.types import Inbound, Reply

CHANNEL = "console"


def render(reply: Reply) -> str:
    lines = [reply.text]
    lines += [f"  {number}. {choice.label}" for number, choice in enumerate(reply.choices, 1)]
    return "\n".join(lines)


class ConsoleSession:
    def __init__(
        self,
        delivery: Delivery,
        name: str,
        *,
        assisted: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.delivery = delivery
        self.name = name
        self.assisted = assisted
        self.clock = clock

    async def say(self, text: str) -> list[Reply]:
        inbound = Inbound(
            channel=CHANNEL,
            medium="terminal",
            sender=self.name,
            message_id=uuid.uuid4().hex,
            received_at=self.clock(),
            text=text,
            assisted=self.assisted,
        )
        outcome = await self.delivery.handle(inbound)
        return list(outcome.replies)

    async def run(self, stdin: TextIO, stdout: TextIO, *, interactive: bool) -> None:
        if interactive:
            stdout.write(f"Chatting as {self.name!r}. Send START to begin; Ctrl-D to leave.\n")
        while True:
            if interactive:
                stdout.write("you> ")
                stdout.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            text = line.rstrip("\r\n")
            if not interactive:
                stdout.write(f"> {text}\n")
            for reply in await self.say(text):
                stdout.write(render(reply) + "\n")
            stdout.write("\n")
            stdout.flush()
