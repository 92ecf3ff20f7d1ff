"""The commands a chat app lists in its menu (Telegram's setMyCommands), with descriptions.

Participants see their commands in their own language where a translation exists; the
consultation team sees the team commands too. Both lists live here so that every channel
with a command menu, and the team commands themselves, share one source.
"""

from __future__ import annotations

from collections.abc import Iterable

from handlers.catalogue import MESSAGES, Catalogue
from handlers.team.commands import TEAM_COMMANDS

# The participant commands, in menu order; descriptions are catalogue keys.
PARTICIPANT_MENU: tuple[str, ...] = ("start", "idea", "vote", "comment", "mydata", "forget", "help")

# The team commands and what they do (defined with the team's own handlers). Team members
# read English, so these are not in the participant-facing catalogue.
TEAM_MENU: tuple[tuple[str, str], ...] = tuple(TEAM_COMMANDS.items())

MenuEntry = tuple[str, str]  # (command without the slash, description)


def participant_menu(language: str | None = None) -> list[MenuEntry]:
    catalogue = Catalogue(language)
    return [(command, catalogue.text(f"command_{command}")) for command in PARTICIPANT_MENU]


def team_menu(language: str | None = None) -> list[MenuEntry]:
    return participant_menu(language) + list(TEAM_MENU)


def translated_languages(languages: Iterable[str]) -> list[str]:
    """The languages (other than English) whose participant menu has a translation."""
    found = []
    for language in languages:
        if language == "en":
            continue
        catalogue = Catalogue(language)
        if any(
            catalogue.text(f"command_{command}") != MESSAGES[f"command_{command}"]
            for command in PARTICIPANT_MENU
        ):
            found.append(language)
    return found
