"""Reading age: every English message a participant reads or hears, on every channel,
reaches a Flesch reading-ease score of at least 60 (plain English) by textstat.

The test enumerates what exists rather than a fixed list: the whole message catalogue
(text, SMS and voice messages; placeholders filled with typical values), and the
configuration's questions, privacy notices and gateway prompts. A choice label is not a
sentence, and Flesch means nothing for one word ("Disagree" scores -48), so labels are
scored in the line in which people read them ("Reply 1 Agree, 2 Disagree, 3 Skip").
"""

from __future__ import annotations

import string

import pytest
import textstat

from bot.channels.sms_render import choice_line
from handlers.catalogue import MESSAGES, Catalogue
from handlers.types import Choice, Reply
from tests.conftest import make_settings

MIN_EASE = 60
MAX_LABEL_WORDS = 4

CONFIG = make_settings("sqlite+aiosqlite://").consultation
SAMPLES = {
    "name": CONFIG.consultation.name,
    "question": CONFIG.questions[0].text,
    "text": "We need more physios in GP surgeries so people get seen sooner.",
    "details": "joined 01 Dec 2026; answers: Patient, London; ideas: 1; comments: 0; "
    "votes: 4; news: No",
    "length": "2,001",
    "limit": "2,000",
    "choices": "1 Agree, 2 Disagree, 3 Skip",
}


def fill(template: str) -> str:
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    return template.format(**{name: SAMPLES.get(name, "12") for name in names})


def is_label(text: str) -> bool:
    """A button or menu label: a few words, not a sentence."""
    return len(text.split()) <= MAX_LABEL_WORDS and not text.rstrip().endswith((".", "?", "!"))


def participant_texts() -> list[tuple[str, str]]:
    texts = [(key, fill(text)) for key, text in MESSAGES.items() if not is_label(fill(text))]
    consultation = CONFIG.consultation
    texts.append(("config: privacy_notice", consultation.privacy_notice))
    if consultation.spoken_privacy_notice:
        texts.append(("config: spoken_privacy_notice", consultation.spoken_privacy_notice))
    texts += [(f"config: question {q.key}", q.text) for q in CONFIG.questions]
    for question in CONFIG.gateway:
        texts.append((f"config: gateway {question.key}", question.prompt))
        texts += [
            (f"config: gateway {question.key}.{option.key}", option.prompt)
            for option in question.options
            if option.prompt
        ]
    return texts


@pytest.mark.parametrize(("name", "text"), participant_texts(), ids=lambda value: str(value)[:40])
def test_every_message_is_plain_english(name: str, text: str) -> None:
    score = textstat.flesch_reading_ease(text)
    assert score >= MIN_EASE, f"{name}: Flesch {score:.1f} < {MIN_EASE}: {text!r}"


def test_labels_read_plainly_in_the_lines_they_appear_in() -> None:
    labels = [key for key, text in MESSAGES.items() if is_label(fill(text))]
    assert {"vote_agree", "vote_disagree", "menu_idea", "yes"} <= set(labels)
    catalogue = Catalogue()
    shown = {  # each list of labels with the message they are read with
        "menu": ("menu", ("menu_idea", "menu_vote", "menu_comment", "menu_help")),
        "vote": ("vote_card", ("vote_agree", "vote_disagree", "vote_skip")),
    }
    for name, (message, keys) in shown.items():
        choices = tuple(Choice(catalogue.text(key), f"x:{key}") for key in keys)
        text = f"{fill(MESSAGES[message])} {choice_line(Reply('', choices=choices))}"
        score = textstat.flesch_reading_ease(text)
        assert score >= MIN_EASE, f"{name}: Flesch {score:.1f}: {text!r}"


def test_the_check_can_fail() -> None:
    officialese = (
        "Notwithstanding the aforementioned considerations, participation necessitates "
        "acknowledgement of the organisational data-processing responsibilities."
    )
    assert textstat.flesch_reading_ease(officialese) < MIN_EASE
