"""Every reply of the flow, as SMS: a conversation through every branch a text can reach
(on SQLite and PostgreSQL, straight through the engine) and every message of the
catalogue filled with its longest values. Each reply on its own is one text of at most
two segments, and English replies are GSM-7 throughout.

What a conversation cannot reach by text (a vote on one's own idea comes only from a
button; news and "kept for retry" are not answers to a message) is rendered from the
catalogue with the longest values it can be given.
"""

from __future__ import annotations

import re
import string

import pytest

from bot.channels.sms_render import render_sms
from bot.channels.sms_segments import GSM7, measure
from handlers.catalogue import DETAIL_LABELS, LOCALE_DIR, MESSAGES, Catalogue
from handlers.types import Reply
from tests.conftest import config_dict, make_engine, make_settings
from tests.people import Person

MAX_SEGMENTS = 2
CONFIG = make_settings("sqlite+aiosqlite://").consultation
LONGEST_IDEA = (
    "Put a physiotherapist in every GP surgery so that people with back pain, "
    "arthritis and sports injuries can be seen the same week instead of waiting months. " * 20
)[: CONFIG.consultation.max_text_length]
# Messages no text message carries: read aloud on calls, shown on the web form or in
# Telegram only, and labels and list lines (read in the choice lines and the lists of ideas,
# which the conversation checks).
NOT_SMS = re.compile(
    r"call_.*|web_.*|store_busy|command_.*|private_only.*|send_text|vote_hint|"
    r"menu_(idea|vote|comment|help)|vote_(agree|disagree|skip)|yes|no|"
    r"gateway_skip_choice|cancel_choice|alike_different|alike_idea|choose_button|"
    r"replies_late|"  # before replies a chat channel kept at stopping (chat_sends.py)
    r"news_unavailable|help_no_news"  # where news cannot be sent: SMS can send it
)
# Reached other than as the answer to a text: rendered from the catalogue only.
NOT_BY_TEXT = {"vote_own", "failed_kept", "merged_yours", "merged_into_yours"}
# Past a limit per person, or the same idea twice: tests/test_limits_and_replays.py.
NOT_BY_TEXT |= {"limit_ideas", "limit_comments", "limit_votes", "limit_messages", "idea_again"}
# With no participant row before consent, a stranger has no step to remember: another
# message before YES or NO is welcomed again (only stores from before issue 16 see this).
NOT_BY_TEXT |= {"consent_again"}


def sms_keys() -> list[str]:
    return [key for key in MESSAGES if not NOT_SMS.fullmatch(key)]


# The welcome carries the open question and the consultation's own privacy notice: it
# may take two texts (split between paragraphs), each within the limit.
TWO_TEXTS = {"welcome"}


def one_text(reply: Reply) -> str:
    """The reply as SMS, which must be a single text of at most two segments (two such
    texts for the welcome)."""
    messages = render_sms([reply])
    assert len(messages) <= (2 if reply.key in TWO_TEXTS else 1), (reply.key, messages)
    for message in messages:
        assert measure(message).segments <= MAX_SEGMENTS, (reply.key, measure(message), message)
    return "\n".join(messages)


def literal_part(template: str) -> str:
    """The longest stretch of a template that is not a placeholder."""
    parts = [literal for literal, *_ in string.Formatter().parse(template)]
    return max((part.strip() for part in parts), key=len)


class Texting:
    """Every reply an SMS conversation produced, each checked as it comes."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.keys: set[str] = set()

    async def say(self, person: Person, text: str) -> list[str]:
        outcome = await person.send(text)
        for reply in outcome.replies:
            self.keys.add(reply.key)
            one_text(reply)
        sent = render_sms(outcome.replies)
        for message in sent:
            measured = measure(message)
            assert measured.segments <= MAX_SEGMENTS, (text, measured, message)
            assert measured.encoding == GSM7, (text, message)  # all English, ASCII ideas
        self.messages += sent
        return sent

    async def script(self, person: Person, *texts: str) -> None:
        for text in texts:
            await self.say(person, text)


async def test_every_reply_of_a_text_conversation_fits(engine, clock) -> None:
    texting = Texting()
    author = Person(engine, "+447700900301", channel="sms")
    await texting.script(
        author,
        "Hello", "maybe", "NO", "hello again", "YES",  # welcome, unclear, refused, again
        "99", "1", "11", "skip", "skip",  # a wrong number, AHP, physio, two skips
        "SKIP", "/foo", "", "x" * (CONFIG.consultation.max_text_length + 1),
        "COMMENT", "VOTE", "HELP", "4",  # nothing to comment on or vote on yet; help
        "IDEA", "SKIP", "IDEA", "2",  # "2" at "What is your idea?": words, please
    )  # fmt: skip
    [saved] = await texting.say(author, LONGEST_IDEA)
    idea = re.search(r"saved as idea (\d+)", saved).group(1)
    await texting.script(author, "yes", "MYDATA", "NEWS OFF", "NEWS ON")
    voter = Person(engine, "+447700900302", channel="sms")
    await texting.script(
        voter,
        "START", "yes", "3", "skip", "skip",
        "VOTE", "maybe", "COMMENT", "Yes, and in care homes too",
        "COMMENT 9999999", f"COMMENT {idea} This is shit", "IDEA Dr John Smith is useless",
        "no", "COMMENT", "2",  # choose an idea to comment on, then Cancel
        "IDEA Put a physiotherapist in every GP surgery so people with back pain are seen",
        "1",  # "Is your idea like one of these?": that one
        "MYDATA", "FORGET", "NO", "FORGET", "yes", "MYDATA",
    )  # fmt: skip
    stopper = Person(engine, "+447700900303", channel="sms")
    await texting.script(stopper, "START", "STOP", "START")
    clock.advance(days=400 * 3)  # every question has closed
    await texting.script(author, "IDEA")

    # The long idea was shortened to fit wherever it was shown.
    shown = [m for m in texting.messages if "Put a physiotherapist" in m]
    assert len(shown) == 4 and all("..." in m for m in shown)
    missing = {
        key
        for key in sms_keys()
        if key not in NOT_BY_TEXT | {"ask_question", "questions_are"}  # (two open: below)
        if key not in texting.keys
        if not any(literal_part(MESSAGES[key]) in m for m in texting.messages)
    }
    assert missing == set()


async def test_choosing_between_open_questions_fits(
    store, database_url: str, enricher, clock
) -> None:
    questions = config_dict()["questions"]
    questions[1]["opens"] = questions[0]["opens"]
    engine = make_engine(store, make_settings(database_url, questions=questions), enricher, clock)
    await engine.prepare()
    texting = Texting()
    person = Person(engine, "+447700900304", channel="sms")
    await texting.script(person, "START", "yes", "skip", "skip", "skip", "IDEA", "2")
    [which, *_] = [m for m in texting.messages if m.startswith("Which question")]
    assert "2 What should the NHS ask" in which
    await texting.script(person, "More physios on wards", "1", "no")
    assert "ask_question" in texting.keys and "idea_saved" in texting.keys


def longest_values() -> dict[str, str]:
    """The longest value each placeholder can be given."""
    catalogue = Catalogue()
    labels = []
    for question in CONFIG.gateway:
        options = [*question.options, *(o for q in question.options for o in q.options)]
        labels.append(max((option.label for option in options), key=len))
    details = "; ".join(
        [
            catalogue.detail("joined", date="30 Sep 2027"),
            catalogue.detail("answers", answers=", ".join(labels)),
            *(catalogue.detail(k, count=9999) for k in ("ideas", "comments", "votes")),
            catalogue.detail("news", value=catalogue.text("yes")),
        ]
    )
    assert set(DETAIL_LABELS) == {"joined", "answers", "ideas", "comments", "votes", "news"}
    return {
        "name": CONFIG.consultation.name,
        "question": max((q.text for q in CONFIG.questions), key=len),
        "questions": " / ".join(q.text for q in CONFIG.questions),
        "text": LONGEST_IDEA,
        "details": details,
        "number": "9999999",
        "into": "9999999",
        "count": "99",
        "length": f"{CONFIG.consultation.max_text_length * 50:,}",
        "limit": f"{CONFIG.consultation.max_text_length:,}",
        "choices": "1 Agree, 2 Disagree, 3 Skip",
    }


LANGUAGES = ["en", *sorted(path.stem for path in LOCALE_DIR.glob("*.po"))]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_catalogue_message_fits_one_text(language: str) -> None:
    catalogue, values = Catalogue(language), longest_values()
    for key in sms_keys():
        template = catalogue.text(key)
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        filled = catalogue.text(key, **{name: values[name] for name in names})
        # Only votes and comments carry the idea as a quote; news comes from the outbox
        # as bare text, with the idea in quotation marks.
        quote = LONGEST_IDEA if key in ("vote_card", "comment_ask") else ""
        message = one_text(Reply(filled, key=key, quote=quote))
        if language == "en":
            assert measure(message).encoding == GSM7, (key, message)
        if "text" in names:
            assert "..." in message, key


def test_the_check_can_fail() -> None:
    with pytest.raises((ValueError, AssertionError)):
        one_text(Reply("A privacy notice that goes on. " * 20))
    assert measure("Don\u2019t").encoding != GSM7
