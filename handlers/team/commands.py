"""Recognising a team command: who may send it and which words are the team's.

Only on Telegram, from a user id listed under `team` in config.yaml. The ten report
commands are the bot's team menu (names and descriptions below, for the Telegram
adapter's setMyCommands); the action words come from buttons (payloads such as
"merge:12:7") or can be typed (/merge 12 7) where a channel has no buttons.
"""

from __future__ import annotations

from dataclasses import dataclass

from handlers.commands import parse_command
from handlers.settings import ConsultationConfig, TeamMember, TeamRole
from handlers.types import Inbound

# The team menu, in order: name -> description (setMyCommands).
TEAM_COMMANDS: dict[str, str] = {
    "summary": "Participants, contributions and votes, by channel and group",
    "top": "Top ideas by Wilson score: /top [N] [question] [7d]",
    "controversial": "Ideas with many votes split close to evenly",
    "consensus": "Ideas every group agrees with",
    "themes": "Ideas grouped into themes",
    "similar": "Near-duplicate ideas to merge",
    "reach": "Who is taking part against the targets",
    "pending": "The moderation queue",
    "export": "CSV or XLSX export (admins)",
    "chart": "Charts: activity, sentiment, reach",
}
# Words that act on something; sent by buttons or typed.
ACTION_WORDS = frozenset(
    {"approve", "hide", "amend", "merge", "dismiss", "rename", "move", "erase"}
)
TEAM_WORDS = frozenset(TEAM_COMMANDS) | ACTION_WORDS

ROLE_RANK: dict[str, int] = {"viewer": 1, "moderator": 2, "admin": 3}
NEEDED_ROLE: dict[str, TeamRole] = {
    **dict.fromkeys(TEAM_COMMANDS, "viewer"),
    "pending": "moderator",
    **dict.fromkeys(ACTION_WORDS, "moderator"),
    "export": "admin",
    "erase": "admin",
}


@dataclass(frozen=True)
class TeamRequest:
    member: TeamMember
    word: str
    arguments: tuple[str, ...]  # the words after the command, or the payload's parts
    rest: str  # the raw text after the command word (for /amend and /rename)
    pressed: bool  # came from a button

    def allowed(self) -> bool:
        return ROLE_RANK[self.member.role] >= ROLE_RANK[NEEDED_ROLE[self.word]]

    @property
    def needed(self) -> TeamRole:
        return NEEDED_ROLE[self.word]


def team_member(config: ConsultationConfig, inbound: Inbound) -> TeamMember | None:
    return next((m for m in config.team if m.is_sender(inbound.channel, inbound.sender)), None)


def recognise(config: ConsultationConfig, inbound: Inbound, text: str) -> TeamRequest | None:
    """The team request in a message, or None: not a team member, or not a team word
    (a team member's other messages go to the participant conversation as anyone's)."""
    member = team_member(config, inbound)
    if member is None:
        return None
    if inbound.payload is not None:
        word, _, rest = inbound.payload.partition(":")
        if word not in TEAM_WORDS:
            return None
        parts = tuple(part for part in rest.split(":") if part)
        return TeamRequest(member, word, parts, " ".join(parts), pressed=True)
    command = parse_command(text, TEAM_WORDS)
    if command is None or command.word not in TEAM_WORDS:
        return None
    return TeamRequest(
        member, command.word, tuple(command.argument.split()), command.argument, pressed=False
    )
