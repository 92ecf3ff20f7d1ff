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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from handlers.enrich.clean import clean_text
from handlers.enrich.language import LanguageDetector
from handlers.enrich.moderation import Flag, abuse_matcher, moderation_flag
from handlers.enrich.redact import MARKERS, redact
from handlers.enrich.sentiment import (
    ANALYSERS,
    Label,
    Sentiment,
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
    with every other Enricher for the same languages or the same analyser. `enrich` is a
    function of its text alone: it may run in several threads at once, and an Enricher
    pickles, so a process pool can use it too.
    """

    def __init__(self, languages: Sequence[str], sentiment: SentimentSettings) -> None:
        self._detector = LanguageDetector(languages)
        self._sentiment = sentiment
        if sentiment.analyser not in ANALYSERS:
            raise ValueError(f"unknown sentiment analyser {sentiment.analyser!r}")

    @property
    def languages(self) -> tuple[str, ...]:
        return self._detector.languages

    def warm_up_steps(self) -> Iterator[str]:
        """Load everything `enrich` uses, one part at a time, naming each part when it is
        loaded ("language:en" ... "sentiment:textblob", "moderation"). Until then `enrich`
        works all the same, loading what it needs at first use."""
        for code in self._detector.warm_up_steps():
            yield f"language:{code}"
        get_analyser(self._sentiment.analyser).analyse("warm up")
        yield f"sentiment:{self._sentiment.analyser}"
        abuse_matcher()
        yield "moderation"

    def warm_up(self, *, on_every_core: bool = False) -> None:
        """Load everything `enrich` uses now (about 2.5 s of CPU) rather than during the
        first messages. Safe from a background thread while `enrich` runs elsewhere, and
        to repeat. `on_every_core` loads the language models in parallel, holding the GIL
        throughout: for a process about to fork workers, not for a server warming up."""
        if on_every_core:
            self._detector.warm_up(on_every_core=True)
        for _ in self.warm_up_steps():
            pass

    def enrich(self, text: str, *, social: bool = False) -> Enrichment:
        return self.enrich_many([text], social=social)[0]

    def enrich_many(self, texts: Sequence[str], *, social: bool = False) -> list[Enrichment]:
        """`enrich` of each text, one stage at a time across them all: each stage's tables
        (lingua's models, the lexicons, the model's weights) then stay in the processor's
        caches while it runs, a tenth to a fifth less CPU a text over tens to hundreds of
        texts (bench/enrich.py). Raises what `enrich` would raise for any one of them."""
        redacted = [redact(clean_text(text)) for text in texts]
        words = [analysis_text(r.text, social=social) for r in redacted]
        languages = [self._language(text) for text in words]
        scores = [
            self._score(text) if language == SCORED_LANGUAGE else None
            for text, language in zip(words, languages, strict=True)
        ]
        return [
            Enrichment(
                text=r.text,
                redactions=r.kinds,
                language=language,
                polarity=None if score is None else score.polarity,
                subjectivity=None if score is None else score.subjectivity,
                label="unscored" if score is None else score.label,
                flagged=moderation_flag(r.text),
                confidence=None if score is None else score.confidence,
            )
            for r, language, score in zip(redacted, languages, scores, strict=True)
        ]

    def _language(self, words: str) -> str | None:
        language = self._detector.detect(words)
        if language is None and SCORED_LANGUAGE in self.languages and is_short_english(words):
            return SCORED_LANGUAGE  # "Fine.", "None.": too short for the detector
        return language

    def _score(self, words: str) -> Sentiment:
        analyser = get_analyser(self._sentiment.analyser)
        return score_text(analyser, words, self._sentiment)
