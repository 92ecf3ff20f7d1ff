"""Recognising command words in any text channel.

Command words are case-insensitive and work with or without a leading slash, so
"/idea Better parking", "IDEA Better parking" and "idea better parking" are the same.
Telegram's "/start@ChorusBot" form (used in groups) is accepted too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

PARTICIPANT_COMMANDS = frozenset(
    {"start", "idea", "vote", "comment", "mydata", "forget", "help", "skip", "yes", "no",
     "cancel", "news"}
)  # fmt: skip
# Words a phone network treats as opting out of or back into messages, or asking for
# help (SMS only): the keywords Twilio itself acts on, so Chorus and the gateway agree.
OPT_OUT_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"}
)
OPT_IN_WORDS = frozenset({"start", "unstop", "yes"})
HELP_WORDS = frozenset({"help", "info"})
# Bare words that count as commands only when alone in the message: answers, and words
# that often start a sentence ("Help carers get respite", "Start physio sooner").
ANSWER_WORDS = frozenset({"skip", "yes", "no", "cancel"})
ALONE_WORDS = ANSWER_WORDS | {"start", "help"}
# NEWS OFF leaves the news list (NEWS ON joins it): words of their own, so leaving the
# news never sounds like FORGET, which deletes everything.
NEWS_SWITCHES = frozenset({"off", "on"})

_COMMAND = re.compile(r"^/?([A-Za-z]+)(?:@[A-Za-z0-9_]+)?(?:\s+(.*))?$", re.DOTALL)


@dataclass(frozen=True)
class Command:
    word: str  # lower case, without the slash
    argument: str  # the rest of the message, stripped
    slashed: bool


# A message is parsed several times while it is decided (consent, the router, each time a
# flow asks for a read): remembered, so it costs one regex match.
@lru_cache(maxsize=1024)
def parse_command(text: str, extra_words: frozenset[str] = frozenset()) -> Command | None:
    """The command in a message, or None when it is plain text.

    A slashed word is always a command (known or not, so "/foo" can be answered as an
    unknown command). A bare word is a command only when it is a known one, so a
    sentence starting with "Idea:" or "Yes," is still read sensibly.
    """
    stripped = text.strip()
    match = _COMMAND.match(stripped)
    if not match:
        return None
    word = match.group(1).lower()
    argument = (match.group(2) or "").strip()
    slashed = stripped.startswith("/")
    if slashed:
        return Command(word, argument, True)
    known = PARTICIPANT_COMMANDS | extra_words
    if word not in known:
        return None
    if word in ALONE_WORDS | OPT_OUT_WORDS | extra_words and argument:
        return None  # "yes I think so" or "end the waiting lists" is text, not a command
    if word == "news" and argument.casefold().rstrip(".!") not in NEWS_SWITCHES:
        return None  # NEWS OFF and NEWS ON only; "news about..." is text
    return Command(word, argument, False)
