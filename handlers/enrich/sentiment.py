"""Sentiment analysers behind one small interface, and the label Chorus gives a score.

An analyser has a `name` and `analyse(text) -> (polarity, subjectivity)`: polarity in
[-1, 1], subjectivity in [0, 1] or None when the analyser has no such measure. To add a
better one, write a class with that shape and add it to `ANALYSERS` (and to the choices of
`SentimentSettings.analyser`). Both analysers here are English-only and work offline.

Labels (`label_for`), with the thresholds from `SentimentSettings` (defaults ±0.05, the
band used in the VADER paper and in bench/sentiment.py):
    positive  when polarity >= positive_threshold
    negative  when polarity <= negative_threshold
    neutral   otherwise
"unscored" is given by the pipeline to text that is not English or whose language is unsure.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Literal, Protocol

from handlers.settings import SentimentSettings

Label = Literal["positive", "neutral", "negative", "unscored"]


class SentimentAnalyser(Protocol):
    name: str

    def analyse(self, text: str) -> tuple[float, float | None]:
        """Return (polarity in [-1, 1], subjectivity in [0, 1] or None)."""
        ...


class TextBlobAnalyser:
    """TextBlob's default pattern-lexicon analyser (no NLTK corpora needed)."""

    name = "textblob"

    def __init__(self) -> None:
        # Imported here: textblob imports NLTK, over a second that only users should pay.
        from textblob.en.sentiments import PatternAnalyzer

        self._analyser = PatternAnalyzer()

    def analyse(self, text: str) -> tuple[float, float | None]:
        result = self._analyser.analyze(text)
        return float(result.polarity), float(result.subjectivity)


class VaderAnalyser:
    """VADER's compound score as polarity; VADER has no subjectivity measure."""

    name = "vader"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyser = SentimentIntensityAnalyzer()

    def analyse(self, text: str) -> tuple[float, float | None]:
        return float(self._analyser.polarity_scores(text)["compound"]), None


ANALYSERS: dict[str, Callable[[], SentimentAnalyser]] = {
    "textblob": TextBlobAnalyser,
    "vader": VaderAnalyser,
}


@cache
def get_analyser(name: str) -> SentimentAnalyser:
    """The shared analyser called `name` (built at first use: VADER loads its lexicon)."""
    try:
        factory = ANALYSERS[name]
    except KeyError:
        known = ", ".join(sorted(ANALYSERS))
        raise ValueError(f"unknown sentiment analyser {name!r}; known: {known}") from None
    return factory()


def label_for(polarity: float, settings: SentimentSettings) -> Label:
    """positive / negative / neutral for a polarity, by the configured thresholds."""
    if polarity >= settings.positive_threshold:
        return "positive"
    if polarity <= settings.negative_threshold:
        return "negative"
    return "neutral"
