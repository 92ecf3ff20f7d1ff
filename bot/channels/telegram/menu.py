"""Registering the command menu with Telegram (setMyCommands) when the channel starts.

Participants' commands apply to every private chat, in English and in each configured
language with a translation (Telegram picks by the person's app language); each team
member's chat also gets the team commands. A refusal is logged and Chorus carries on
without a menu: the commands still work when typed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial

from telegram import (
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
)

from bot.channels.base import SendError
from bot.channels.telegram.sender import Sender
from handlers.command_menu import MenuEntry, participant_menu, team_menu, translated_languages
from handlers.settings import TeamMember

log = logging.getLogger(__name__)


async def register_commands(
    sender: Sender, languages: Iterable[str], team: Iterable[TeamMember]
) -> None:
    variants = [None, *translated_languages(sorted(languages))]
    menus: list[tuple[str, BotCommandScope, str | None, list[MenuEntry]]] = [
        ("participants", BotCommandScopeAllPrivateChats(), language, participant_menu(language))
        for language in variants
    ]
    menus += [
        (
            f"a team {member.role}",
            BotCommandScopeChat(member.telegram_id),
            language,
            team_menu(language),
        )
        for member in team
        for language in variants
    ]
    for who, scope, language, entries in menus:
        commands = [BotCommand(command, description) for command, description in entries]
        try:
            await sender.call(
                partial(sender.bot.set_my_commands, commands, scope=scope, language_code=language)
            )
        except SendError as error:
            log.warning(
                "Telegram setMyCommands failed for %s (%s): %s", who, language or "default", error
            )
