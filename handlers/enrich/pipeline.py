"""The enrichment pipeline: clean, redact, detect language, score sentiment, moderate.

    text ─► clean_text ─► redact ─────────────────────────────► Enrichment.text
                            │                                    (and moderation)
                            └► analysis text: markers removed, and for public posts
                               (social=True) hashtags, @mentions and URLs removed
                               ─► language ─► sentiment, when the language is English

Sentiment is only given for English: the analysers are English lexicons, and a score for
Welsh or Polish would be wrong rather than missing, so that text is labelled "unscored".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from handlers.enrich.clean import clean_text
from handlers.enrich.language import LanguageDetector
from handlers.enrich.moderation import Flag, moderation_flag
from handlers.enrich.redact import MARKERS, redact
from handlers.enrich.sentiment import (
    ANALYSERS,
    Label,
    get_analyser,
    is_short_english,
    score_text,
)
from handlers.settings import SentimentSettings

__all__ = ["Enricher", "Enrichment", "clean_text"]

SCORED_LANGUAGE = "en"

_MARKER = re.compile("|".join(re.escape(marker) for marker in MARKERS.values()))
# Twitter-style tokens that are not words of the sentence. URLs first: they may hold a "#".
_SOCIAL = re.compile(r"(?:https?://|www\.)\S+|[#@]\w+", re.IGNORECASE)
_SPACES = re.compile(r"[ \t]{2,}")


@dataclass(frozen=True)
class Enrichment:
    """What Chorus stores about a text; see the contract in handlers/enrich/__init__.py."""

    text: str
    redactions: tuple[str, ...]
    language: str | None
    polarity: float | None
    subjectivity: float | None
    label: Label
    flagged: Flag | None
    confidence: float | None = None  # the label's calibrated probability (chorus only)


def analysis_text(redacted: str, *, social: bool = False) -> str:
    """The words to detect language and score sentiment on: no markers, no social tokens."""
    text = _MARKER.sub(" ", redacted)
    if social:
        text = _SOCIAL.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


class Enricher:
    """Enriches text for one consultation. Cheap to build; reuse one for every message.

    The language detector and the sentiment analyser are built at first use and shared
    with every other Enricher for the same languages or the same analyser.
    """

    def __init__(self, languages: Sequence[str], sentiment: SentimentSettings) -> None:
        self._detector = LanguageDetector(languages)
        self._sentiment = sentiment
        if sentiment.analyser not in ANALYSERS:
            raise ValueError(f"unknown sentiment analyser {sentiment.analyser!r}")

    @property
    def languages(self) -> tuple[str, ...]:
        return self._detector.languages

    def warm_up(self) -> None:
        """Load the language models, the analyser and the word list now (about two seconds)
        rather than during the first message."""
        for text in ("The physiotherapists were helpful", "Mae'r gwasanaeth yn wych"):
            self._detector.detect(text)
        get_analyser(self._sentiment.analyser).analyse("warm up")
        moderation_flag("warm up")

    def enrich(self, text: str, *, social: bool = False) -> Enrichment:
        redacted = redact(clean_text(text))
        words = analysis_text(redacted.text, social=social)
        language = self._detector.detect(words)
        if language is None and SCORED_LANGUAGE in self.languages and is_short_english(words):
            language = SCORED_LANGUAGE  # "Fine.", "None.": too short for the detector
        polarity: float | None = None
        subjectivity: float | None = None
        confidence: float | None = None
        label: Label = "unscored"
        if language == SCORED_LANGUAGE:
            analyser = get_analyser(self._sentiment.analyser)
            polarity, subjectivity, label, confidence = score_text(analyser, words, self._sentiment)
        return Enrichment(
            text=redacted.text,
            redactions=redacted.kinds,
            language=language,
            polarity=polarity,
            subjectivity=subjectivity,
            label=label,
            flagged=moderation_flag(redacted.text),
            confidence=confidence,
        )
