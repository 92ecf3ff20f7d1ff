"""The enrichment pipeline: what the engine gets back for a message before storing it."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from handlers.enrich import Enricher, Enrichment, clean_text
from handlers.enrich.sentiment import get_analyser
from handlers.settings import SentimentSettings

ENRICH = Path(__file__).resolve().parent.parent / "handlers" / "enrich"

ENGLISH_GOOD = "The physiotherapists were wonderful and really helpful"
ENGLISH_BAD = "The waiting times were terrible and the service was awful"
ENGLISH_FLAT = "The clinic is on the second floor"
WELSH = "Mae'r gwasanaeth yn wych, diolch yn fawr iawn"
POLISH = "Zażółć gęślą jaźń. Bardzo dobry pomysł, dziękuję!"


# TextBlob here, whose figures these tests pin down; Chorus's own model (the default) is
# tested in tests/test_sentiment_analysers.py.
TEXTBLOB = SentimentSettings(analyser="textblob")


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return Enricher(("en", "cy", "pl"), TEXTBLOB)


# --- The contract ---------------------------------------------------------------------


def test_enrichment_is_frozen(enricher: Enricher) -> None:
    result = enricher.enrich(ENGLISH_GOOD)
    assert isinstance(result, Enrichment)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.label = "negative"  # type: ignore[misc]


def test_enrich_cleans_then_redacts(enricher: Enricher) -> None:
    result = enricher.enrich("Call\x00 me on 07700\x07 900123 👍🏽\nThanks")
    assert result.text == "Call me on [phone] 👍🏽\nThanks"
    assert result.redactions == ("phone",)
    assert clean_text("Call\x00 me") == "Call me"


@pytest.mark.parametrize("social", [False, True])
def test_many_texts_at_once_are_each_enriched_as_alone(enricher: Enricher, social: bool) -> None:
    texts = [
        "The physios were wonderful #AHPsIntoAction @nhs",
        "Roedd y staff yn garedig iawn",
        "",
        "Fine.",
        "Call me on 07700 900123 or jo@example.com, the wait was awful",
        "Dr Smith is a useless idiot",
        "Jest bardzo dobrze",
        "ok",
    ]
    alone = [enricher.enrich(text, social=social) for text in texts]
    assert enricher.enrich_many(texts, social=social) == alone
    assert enricher.enrich_many(list(reversed(texts)), social=social) == alone[::-1]
    assert {e.language for e in alone} >= {"en", "cy", "pl", None}
    assert any(e.flagged for e in alone) and any(e.redactions for e in alone)


def test_unknown_language_codes_are_refused_when_built() -> None:
    with pytest.raises(ValueError, match="'xx'"):
        Enricher(("en", "xx"), SentimentSettings())


def test_the_enrich_package_imports_no_channel_or_storage_library() -> None:
    forbidden = {"telegram", "tweepy", "aiohttp", "sqlalchemy"}
    for path in ENRICH.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not {name.split(".")[0] for name in names} & forbidden, path.name


# --- Language -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language"),
    [
        (ENGLISH_GOOD, "en"),
        ("Dr Smith on ward 5 was rude", "en"),
        (WELSH, "cy"),
        ("Roedd y nyrs yn garedig iawn", "cy"),
        (POLISH, "pl"),
        ("Kolejki sa za dlugie", "pl"),  # Polish typed without diacritics
    ],
)
def test_language_is_one_of_the_configured_languages(
    enricher: Enricher, text: str, language: str
) -> None:
    assert enricher.enrich(text).language == language


@pytest.mark.parametrize("text", ["ok", "no", "wych", "👍🏽🙂", "123 456", ""])
def test_language_is_none_when_unsure(enricher: Enricher, text: str) -> None:
    result = enricher.enrich(text)
    assert result.language is None
    assert result.label == "unscored"


def test_with_one_language_other_languages_are_not_taken_for_it() -> None:
    english_only = Enricher(("en",), SentimentSettings())
    assert english_only.enrich("This is a good idea").language == "en"
    assert english_only.enrich("To jest dobry pomysl").language is None
    assert english_only.enrich("Mae hwn yn syniad da").language is None
    assert english_only.enrich("To jest dobry pomysl").label == "unscored"


@pytest.mark.parametrize(
    "text",
    [
        "Je pense que les délais d'attente sont trop longs et terribles",  # French
        "Los tiempos de espera son terribles",  # Spanish
        "Timpul de așteptare este groaznic",  # Romanian (was taken for Welsh)
        "C'est une bonne idée",  # French (was taken for Welsh)
        "Os tempos de espera são terríveis",  # Portuguese
    ],
)
def test_a_language_that_is_not_configured_is_none_and_unscored(
    enricher: Enricher, text: str
) -> None:
    result = enricher.enrich(text)
    assert (result.language, result.label, result.polarity) == (None, "unscored", None)


# --- Sentiment ------------------------------------------------------------------------


def test_positive_english(enricher: Enricher) -> None:
    result = enricher.enrich(ENGLISH_GOOD)
    assert result.label == "positive"
    assert result.polarity is not None and result.polarity >= 0.05
    assert result.subjectivity is not None and 0 <= result.subjectivity <= 1


def test_negative_english(enricher: Enricher) -> None:
    result = enricher.enrich(ENGLISH_BAD)
    assert result.label == "negative"
    assert result.polarity is not None and result.polarity <= -0.05


def test_neutral_english(enricher: Enricher) -> None:
    result = enricher.enrich(ENGLISH_FLAT)
    assert result.label == "neutral"
    assert result.polarity == 0.0


@pytest.mark.parametrize("text", [WELSH, POLISH])
def test_welsh_and_polish_are_unscored_not_wrongly_scored(enricher: Enricher, text: str) -> None:
    result = enricher.enrich(text)
    assert result.language in ("cy", "pl")
    assert (result.label, result.polarity, result.subjectivity) == ("unscored", None, None)


def test_thresholds_come_from_the_settings() -> None:
    strict = Enricher(("en", "cy"), TEXTBLOB.model_copy(update={"positive_threshold": 0.9}))
    result = strict.enrich(ENGLISH_GOOD)
    assert result.polarity is not None and 0.05 <= result.polarity < 0.9
    assert result.label == "neutral"


def test_vader_can_be_chosen() -> None:
    vader = Enricher(("en", "cy", "pl"), SentimentSettings(analyser="vader"))
    result = vader.enrich(ENGLISH_BAD)
    assert result.label == "negative"
    assert result.subjectivity is None
    assert result.polarity == get_analyser("vader").analyse(ENGLISH_BAD)[0]
    assert vader.enrich(WELSH).label == "unscored"


def test_sentiment_is_scored_on_the_redacted_text(enricher: Enricher) -> None:
    # "excellent" is only in the email address, which is redacted before scoring.
    result = enricher.enrich("Contact excellent.service@nhs.net about the clinic on floor two")
    assert result.redactions == ("email",)
    assert (result.language, result.label, result.polarity) == ("en", "neutral", 0.0)


# --- Public posts (social=True) -------------------------------------------------------


def test_social_mode_keeps_hashtags_in_the_text_but_ignores_them_for_sentiment(
    enricher: Enricher,
) -> None:
    post = "Physio appointment this morning #awful"
    assert enricher.enrich(post).label == "negative"  # as a chat message, "awful" counts
    result = enricher.enrich(post, social=True)
    assert result.text == post
    assert (result.label, result.polarity) == ("neutral", 0.0)


def test_social_mode_ignores_mentions_and_links(enricher: Enricher) -> None:
    post = "#AHPsIntoAction @NHSEngland https://t.co/AbCdEf123"
    result = enricher.enrich(post, social=True)
    assert result.text == post
    assert (result.language, result.label) == (None, "unscored")


def test_social_mode_still_redacts(enricher: Enricher) -> None:
    post = "@NHSEngland my physio was brilliant, ring me on 07700 900123 #AHPsIntoAction"
    result = enricher.enrich(post, social=True)
    assert result.text == "@NHSEngland my physio was brilliant, ring me on [phone] #AHPsIntoAction"
    assert result.label == "positive"


# --- Moderation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["This service is shit", "What a load of sh1t", "Fuck the waiting list"]
)
def test_abuse_is_flagged(enricher: Enricher, text: str) -> None:
    assert enricher.enrich(text).flagged == "abuse"


@pytest.mark.parametrize(
    "text",
    [
        "Dr Smith on ward 5 was rude",
        "Ask for Sister Jones, she is great",
        "Mrs. O'Brien in the pharmacy never listens",
        "Prof Łukasiewicz explained everything",
    ],
)
def test_naming_an_individual_is_flagged(enricher: Enricher, text: str) -> None:
    assert enricher.enrich(text).flagged == "named_person"


def test_abuse_wins_over_naming(enricher: Enricher) -> None:
    assert enricher.enrich("Dr Smith is a shit doctor").flagged == "abuse"


@pytest.mark.parametrize(
    "text",
    [
        "Breast screening and urine samples should be done by AHPs",
        "A sexual health clinic for gay and bisexual men",
        "Faster HIV testing and stroke rehabilitation",
        "Dietitians should help with fat intake and nappy rash",
        "The A55 was shut so I missed my appointment",
        "Nurse Practitioners are brilliant",
        "Don't Miss Out on the next event",
        "I saw a Dr. The wait was long",
        "Scunthorpe hospital is great",
        "Thanks xx",
        WELSH,
        POLISH,
    ],
)
def test_ordinary_health_text_is_not_flagged(enricher: Enricher, text: str) -> None:
    assert enricher.enrich(text).flagged is None


# --- One Enricher for many messages ---------------------------------------------------


def test_one_enricher_serves_many_messages_without_carrying_anything_over(
    enricher: Enricher,
) -> None:
    texts = [POLISH, ENGLISH_GOOD, "ok", WELSH, ENGLISH_BAD, "Call 07700 900123", ENGLISH_FLAT]
    first = [enricher.enrich(text) for text in texts]
    again = [enricher.enrich(text) for text in reversed(texts)][::-1]
    fresh = Enricher(("en", "cy", "pl"), TEXTBLOB)
    assert first == again == [fresh.enrich(text) for text in texts]
    assert [r.label for r in first] == [
        "unscored",
        "positive",
        "unscored",
        "unscored",
        "negative",
        "neutral",
        "neutral",
    ]
