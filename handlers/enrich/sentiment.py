"""Sentiment analysers behind one small interface, and the label Chorus gives a text.

An analyser has a `name` and `analyse(text) -> (polarity, subjectivity)`: polarity in
[-1, 1], subjectivity in [0, 1] or None when the analyser has no such measure. An analyser
that decides labels itself also has `classify(text) -> Scored` (label, calibrated
confidence, polarity). To add a better one, write a class with that shape and add it to
`ANALYSERS` (and to the choices of `SentimentSettings.analyser`). All three analysers here
are English-only and work offline:

    chorus    the default: Chorus's trained model (handlers/enrich/model/), which gives its
              own label and a calibrated confidence; see README's model card
    vader     VADER's compound score (a rule-based lexicon)
    textblob  TextBlob's pattern lexicon

Labels of vader and textblob (`label_for`), with the thresholds from `SentimentSettings`
(defaults ±0.05, the band used in the VADER paper and in bench/sentiment.py):
    positive  when polarity >= positive_threshold
    negative  when polarity <= negative_threshold
    neutral   otherwise
"unscored" is given by the pipeline to text that is not English or whose language is unsure.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Literal, NamedTuple, Protocol

from handlers.enrich.model import Scored, shipped_model
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


class ChorusAnalyser:
    """Chorus's trained model: its own label with a calibrated confidence."""

    name = "chorus"

    def __init__(self) -> None:
        self._model = shipped_model()

    def classify(self, text: str) -> Scored:
        return self._model.score(text)

    def analyse(self, text: str) -> tuple[float, float | None]:
        return self._model.score(text).polarity, None


ANALYSERS: dict[str, Callable[[], SentimentAnalyser]] = {
    "chorus": ChorusAnalyser,
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


class Sentiment(NamedTuple):
    polarity: float
    subjectivity: float | None
    label: Label
    confidence: float | None  # calibrated probability of the label; None for lexicons


def score_text(analyser: SentimentAnalyser, text: str, settings: SentimentSettings) -> Sentiment:
    """A text's polarity, subjectivity, label and confidence by one analyser: the
    analyser's own label when it decides one (chorus), else the configured thresholds."""
    classify = getattr(analyser, "classify", None)
    if classify is not None:
        scored = classify(text)
        return Sentiment(scored.polarity, None, scored.label, scored.confidence)
    polarity, subjectivity = analyser.analyse(text)
    return Sentiment(polarity, subjectivity, label_for(polarity, settings), None)


# A text this short gives a language detector too little to go on ("Fine.", "None.",
# "Very good"); when every word is one the model learnt from English text, it is English.
# Two letters ("ok", "no", "na") belong to too many languages to tell.
SHORT_LETTERS = 20
MIN_LETTERS = 3


def is_short_english(text: str) -> bool:
    """True for a short text made only of English words the sentiment model knows."""
    letters = sum(c.isalpha() for c in text)
    return MIN_LETTERS <= letters < SHORT_LETTERS and shipped_model().knows_every_word(text)
