"""Detect which of the consultation's configured languages a text is written in.

The answer is one of the configured languages (ISO 639-1 codes) or None when unsure: too
few letters, a text that looks more like another language often heard in the UK (French,
Romanian, Spanish ...) than like any configured one, or a best guess below the confidence
needed for a text of that length. lingua's own "minimum relative distance" does not help
here: it still calls "ok" Polish. A detector is built once per set of languages and shared
by every `LanguageDetector` for that set; lingua loads each language model at first use
(about three seconds for the nine languages compared).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from lingua import IsoCode639_1, Language, LanguageDetectorBuilder
from lingua import LanguageDetector as LinguaDetector

# Fewer letters than this is a word like "ok", "no" or "ie" that belongs to every language.
MIN_LETTERS = 3
# lingua's confidence values over the candidate languages sum to 1. A word or two (fewer
# than SHORT_TEXT letters) is often guessed wrong below MIN_CONFIDENCE_SHORT ("wych", Welsh
# for "great", comes out 0.73 Polish). Longer text is rarely wrong at MIN_CONFIDENCE: on
# 6,000 English texts of the VADER sets, 0.6 kept 99% of those of 20+ letters, with 3 wrong
# guesses. Short English often scores only 0.6-0.7 because Welsh shares its loanwords
# ("Dr Smith was rude": 0.65), while Welsh and Polish sentences score above 0.9.
SHORT_TEXT = 10
MIN_CONFIDENCE_SHORT = 0.75
MIN_CONFIDENCE = 0.6

# Restricted to the configured languages alone, lingua would call every text one of them:
# French or Spanish "en", and scored as English; Romanian "cy". So texts are compared with
# these too (languages often heard in the UK), and one that looks more like one of them is
# None. They only veto: the confidence is then taken among the configured languages, as if
# only those had been compared (English shares words with all of them: "Dr Smith on ward 5
# was rude" is 0.38 English among all nine, 0.65 among English, Welsh and Polish). With one
# configured language, a text that looks most like it is that language, however spread.
# The cost: about 6 ms a text instead of 3, and 110 MB more memory once every model is in.
CONTRAST_LANGUAGES = ("en", "cy", "pl", "ro", "pt", "es", "fr", "de", "it")


def to_language(code: str) -> Language:
    """The lingua language for an ISO 639-1 code; ValueError when lingua does not know it."""
    try:
        return Language.from_iso_code_639_1(IsoCode639_1.from_str(code))
    except ValueError:
        raise ValueError(f"language {code!r}: not an ISO 639-1 code lingua can detect") from None


@cache
def _lingua(codes: tuple[str, ...]) -> LinguaDetector:
    candidates = tuple(dict.fromkeys(codes + CONTRAST_LANGUAGES))
    return LanguageDetectorBuilder.from_languages(*map(to_language, candidates)).build()


class LanguageDetector:
    """Answers which configured language a text is in, or None when unsure."""

    def __init__(self, languages: Sequence[str]) -> None:
        if not languages:
            raise ValueError("configure at least one language, e.g. ('en',)")
        self.languages = tuple(dict.fromkeys(code.lower() for code in languages))
        for code in self.languages:
            to_language(code)

    def detect(self, text: str) -> str | None:
        letters = sum(c.isalpha() for c in text)
        if letters < MIN_LETTERS:
            return None
        values = _lingua(self.languages).compute_language_confidence_values(text)
        if not values:
            return None
        code = _code(values[0].language)
        if code not in self.languages:
            return None
        if len(self.languages) == 1:
            return code
        among_configured = sum(v.value for v in values if _code(v.language) in self.languages)
        needed = MIN_CONFIDENCE_SHORT if letters < SHORT_TEXT else MIN_CONFIDENCE
        return code if values[0].value >= needed * among_configured else None


def _code(language: Language) -> str:
    return language.iso_code_639_1.name.lower()
