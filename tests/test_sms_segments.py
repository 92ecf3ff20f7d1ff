"""SMS length as networks bill it (GSM-7 160/153, UCS-2 70/67, extension characters and
emoji counted double, no pair split across parts), and replies rendered for SMS: the
numbered choice line, ideas shortened with an ellipsis, replies combined, long texts split
without losing a word, and English texts that never force UCS-2."""

from __future__ import annotations

import pytest

from bot.channels.sms_render import choice_line, render_sms
from bot.channels.sms_segments import GSM7, UCS2, encoding_of, gsm_friendly, measure, segments
from handlers.catalogue import MESSAGES
from handlers.types import Choice, Reply

VOTE_CHOICES = (
    Choice("\U0001f44d Agree", "vote:7:agree", short="Agree"),
    Choice("\U0001f44e Disagree", "vote:7:disagree", short="Disagree"),
    Choice("Skip", "vote:7:skip", short="Skip"),
)


@pytest.mark.parametrize(
    ("text", "encoding", "units", "count"),
    [
        ("", GSM7, 0, 0),
        ("a" * 160, GSM7, 160, 1),
        ("a" * 161, GSM7, 161, 2),
        ("a" * 306, GSM7, 306, 2),
        ("a" * 307, GSM7, 307, 3),
        ("\u20ac" * 80, GSM7, 160, 1),  # the euro sign is an extension character: two septets
        ("{}" * 41, GSM7, 164, 2),
        # 152 + 2 + 152 = 306 septets, but the escape pair cannot be split: three parts.
        ("a" * 152 + "\u20ac" + "a" * 152, GSM7, 306, 3),
        ("é à ñ Ü £ Ç", GSM7, 11, 1),
        ("\u0142" * 70, UCS2, 70, 1),
        ("\u0142" * 71, UCS2, 71, 2),
        ("\u0142" * 134, UCS2, 134, 2),
        ("\u0142" * 135, UCS2, 135, 3),
        ("\U0001f44d" * 35, UCS2, 70, 1),  # beyond the BMP: two code units each
        ("\u0142" * 66 + "\U0001f44d" + "\u0142" * 66, UCS2, 134, 3),  # no split pair
        ("Don\u2019t", UCS2, 5, 1),  # one curly apostrophe makes it all UCS-2
        ("Mae\u2019r gwasanaeth yn wych \u0175", UCS2, 26, 1),
    ],
)
def test_measure(text: str, encoding: str, units: int, count: int) -> None:
    measured = measure(text)
    assert (measured.encoding, measured.units, measured.segments) == (encoding, units, count)


def test_typographic_characters_become_their_gsm_look_alikes() -> None:
    text = "\u201cDon\u2019t wait\u201d \u2013 act now\u2026"
    assert encoding_of(text) == UCS2
    assert gsm_friendly(text) == '"Don\'t wait" - act now...'
    assert encoding_of(gsm_friendly(text)) == GSM7
    assert gsm_friendly("Zażółć \U0001f44d") == "Zażółć \U0001f44d"  # letters and emoji stay


def test_english_messages_never_force_ucs2() -> None:
    ucs2 = {key: text for key, text in MESSAGES.items() if encoding_of(text) != GSM7}
    assert ucs2 == {}


@pytest.mark.parametrize("key", ["consent_ask", "followup_ask", "forget_ask", "refused_before"])
def test_yes_no_questions_say_how_to_answer(key: str) -> None:
    assert "YES" in MESSAGES[key] and ("NO" in MESSAGES[key] or key == "refused_before")


def test_choices_are_one_numbered_line() -> None:
    assert choice_line(Reply("Idea 7: x", choices=VOTE_CHOICES)) == (
        "Reply 1 Agree, 2 Disagree, 3 Skip"
    )
    yes_no = (Choice("Yes", "consent:yes"), Choice("No", "consent:no"))
    assert choice_line(Reply("Reply YES or NO.", choices=yes_no)) == ""
    assert choice_line(Reply("Hello")) == ""


@pytest.mark.parametrize(
    "idea",
    [
        "Physiotherapists in every GP surgery would cut waiting times for back pain. " * 8,
        "Potrzebujemy więcej fizjoterapeutów w przychodniach, zażółć gęślą jaźń. " * 8,
        "More rehab \U0001f44d\U0001f3fd for people after a stroke, at home. " * 8,
    ],
)
def test_a_long_idea_is_shortened_to_fit_two_segments(idea: str) -> None:
    reply = Reply(f"Idea 7: {idea}", choices=VOTE_CHOICES, key="vote_card", quote=idea)
    [message] = render_sms([reply])
    assert message.startswith("Idea 7: ") and message.endswith(
        "...\nReply 1 Agree, 2 Disagree, 3 Skip"
    )
    assert segments(message) == 2
    shown = message.split("\n")[0].removeprefix("Idea 7: ").removesuffix("...")
    assert idea.startswith(shown) and len(shown) > 80
    assert idea[len(shown)] in " ,."  # cut between words


def test_short_replies_are_combined_into_one_message() -> None:
    replies = [
        Reply("Thanks! Your idea is saved as idea 4."),
        Reply("Do you want news? Reply YES or NO."),
    ]
    assert render_sms(replies) == [
        "Thanks! Your idea is saved as idea 4.\nDo you want news? Reply YES or NO."
    ]


def test_a_long_text_without_a_quote_is_split_and_nothing_is_lost() -> None:
    notice = " ".join(f"Sentence number {n} of a very long privacy notice." for n in range(30))
    consent = (Choice("Yes", "consent:yes"), Choice("No", "consent:no"))
    messages = render_sms([Reply(f"{notice}\n\nDo you agree? Reply YES or NO.", choices=consent)])
    assert len(messages) > 1 and all(segments(m) <= 2 for m in messages)
    assert " ".join(" ".join(messages).split()) == " ".join(
        f"{notice} Do you agree? Reply YES or NO.".split()
    )


def test_one_unbroken_word_is_cut_by_characters() -> None:
    messages = render_sms([Reply("x" * 700)])
    assert "".join(messages) == "x" * 700 and all(segments(m) <= 2 for m in messages)


@pytest.mark.parametrize(
    "idea", ["Physio in every GP surgery. " * 20, "Więcej fizjoterapeutów w przychodniach. " * 9]
)
def test_news_without_its_quote_shortens_the_words_in_quotation_marks(idea: str) -> None:
    """A follow-up comes from the outbox as bare text: the idea it names is shortened,
    and the rest of the message is kept whole."""
    news = MESSAGES["merged_yours"].format(number=4, into=9, text=idea.strip())
    [message] = render_sms([Reply(news, key="followup")])
    assert segments(message) == 2
    head, _, tail = message.partition(': "')
    assert head == "News about your idea 4: we joined it with a similar idea, idea 9"
    assert tail.endswith('...". Votes on both now count together.')
    assert idea.startswith(tail.split('..."')[0])
