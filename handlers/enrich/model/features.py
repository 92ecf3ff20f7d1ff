"""The features Chorus's sentiment model reads from a text, shared by training and scoring.

One function, `features(text)`, turns a text into feature names in two groups, plus a
few numbers; bench/train_sentiment.py builds the vocabulary and weights from these, and
`SentimentModel` in handlers/enrich/model/__init__.py scores with the very same code, so
the two can never drift apart.

    words   "w:" + each word, "w:!word" when a negation ("not", "never", "can't" ...)
            comes up to three words before it in the same clause
    pairs   "b:" + each pair of neighbouring words ("waiting times", "not good")
    numbers VADER's own scores (compound, positive, negative; vaderSentiment, MIT), and its
            lexicon read with its negation rule: the strongest positive and negative word;
            exclamation marks and negations
    meaning the words that have a GloVe vector (handlers/insights/word_vectors.py): the
            model learnt weights for the mean of their vectors, folded into three numbers
            per word, so a word it never saw in training ("courteous", "dismissive") still
            counts by what it means

    style   how the text is written (length, @names, #tags, links, emoticons, capitals,
            questions, exclamations, ellipses, letters repeated): not a sentiment by
            itself, but it tells the model's second step (`mix_inputs`) how far to trust
            VADER's score and the word weights; VADER reads tweets well and film reviews
            poorly, and the style is what tells those apart at run time

Each group counts presence (not frequency) and is scaled to unit length on its own, so a
long text weighs no more than a short one. Letter pieces (3-5 letters of each word) were
tried too: on the dev parts they gained nothing (worst set 0.544 against 0.532, best set
0.703 against 0.726) and tripled the time to score a text.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[.,;:!?]+")
_BREAK = re.compile(r"[.,;:!?]")
_MEANING_WORD = re.compile(r"[a-z]{2,}")  # the words the shipped GloVe vectors cover
NEGATIONS = frozenset(
    {
        "not", "no", "never", "nothing", "none", "nobody", "nowhere", "neither", "nor",
        "cannot", "without", "hardly", "barely", "scarcely", "lack", "lacks", "lacking",
        "cant", "dont", "didnt", "doesnt", "isnt", "wasnt", "wont", "wouldnt", "couldnt",
        "shouldnt", "havent", "hasnt", "arent", "werent",
    }
)  # fmt: skip
NEGATION_SCOPE = 3
NEGATION_FLIP = -0.74  # VADER's own factor for a negated word's valence
NUMBERS = (
    "vader_compound", "vader_positive", "vader_negative",
    "strongest_positive", "strongest_negative", "exclaims", "negations",
)  # fmt: skip
STYLE = (
    "log_words", "at_name", "hashtag", "link", "emoticon", "capitals", "question",
    "exclaimed", "ellipsis", "repeated_letter",
)  # fmt: skip
# The width of mix_inputs: logits, numbers, VADER's decision (neutral band, positive,
# negative), style, style x compound, style x each logit.
MIX_INPUTS = 3 + len(NUMBERS) + 3 + len(STYLE) * (2 + 3)
_EMOTICON = re.compile(r"[:;=xX8][\-o*']?[)\](\[dDpP/\\|@3]|<3|[)(][\-o']?[:;=]")
_REPEATED = re.compile(r"([a-z])\1\1")
_NOT_LETTER = bytes(b for b in range(128) if not chr(b).isalpha())
_NOT_CAPITAL = bytes(b for b in range(128) if not chr(b).isupper())


@dataclass(frozen=True)
class Features:
    words: list[str]
    pairs: list[str]
    numbers: tuple[float, ...]
    style: tuple[float, ...]
    meaning: list[str]


def is_negation(token: str) -> bool:
    return token in NEGATIONS or token.endswith("n't")


def words_of(text: str) -> list[str]:
    """Lower-case words (with their apostrophes) of a text, punctuation left out."""
    return [t for t in _TOKEN.findall(text.lower().translate(_APOSTROPHES)) if t[0].isalnum()]


@cache
def vader() -> Any:
    """VADER's analyser, whose lexicon also gives the word valences (-4..+4)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def features(text: str) -> Features:
    tokens = _TOKEN.findall(text.lower().translate(_APOSTROPHES))
    analyser = vader()
    valences = analyser.lexicon
    words: list[str] = []
    plain: list[str] = []
    strongest_positive = strongest_negative = 0.0
    negations = 0
    negated_for = 0  # words still inside the last negation's scope
    for token in tokens:
        if _BREAK.match(token):
            negated_for = 0
            plain.append("|")
            continue
        negated = negated_for > 0
        words.append("w:!" + token if negated else "w:" + token)
        plain.append(token)
        valence = valences.get(token, 0.0)
        if valence:
            valence = valence * NEGATION_FLIP if negated else valence
            strongest_positive = max(strongest_positive, valence)
            strongest_negative = min(strongest_negative, valence)
        if is_negation(token):
            negations += 1
            negated_for = NEGATION_SCOPE
        elif negated_for:
            negated_for -= 1
    pairs = [f"b:{a} {b}" for a, b in zip(plain, plain[1:], strict=False) if a != "|" and b != "|"]
    scores = analyser.polarity_scores(text)
    numbers = (
        scores["compound"],
        scores["pos"],
        scores["neg"],
        strongest_positive / 4,
        strongest_negative / 4,
        min(text.count("!"), 3) / 3,
        min(negations, 3) / 3,
    )
    return Features(words, pairs, numbers, style_of(text), meaning_words(text))


def meaning_words(text: str) -> list[str]:
    """The words whose GloVe vectors are averaged (repeats count each time)."""
    return _MEANING_WORD.findall(text.lower())


def style_of(text: str) -> tuple[float, ...]:
    """The STYLE numbers of a text."""
    if text.isascii():  # most text: counted in C by deleting the other bytes
        raw = text.encode("ascii")
        letters = len(raw.translate(None, _NOT_LETTER))
        upper = len(raw.translate(None, _NOT_CAPITAL))
    else:
        letters = sum(map(str.isalpha, text))
        upper = sum(map(str.isupper, text))
    capitals = upper / letters if letters else 0.0
    return (
        math.log1p(len(text.split())),
        float("@" in text),
        float("#" in text),
        float("http" in text or "www" in text),
        float(_EMOTICON.search(text) is not None),
        capitals,
        float("?" in text),
        float("!" in text),
        float("..." in text),
        float(_REPEATED.search(text.lower()) is not None),
    )


def mix_row(
    logits: list[float], numbers: tuple[float, ...], style: tuple[float, ...]
) -> list[float]:
    """`mix_inputs` for one text, in plain Python: for a single row, building the inputs
    costs less than numpy's calls on arrays this small (the same numbers, in the same
    order; a test compares the two)."""
    compound = numbers[0]
    decision = [
        float(abs(compound) < 0.05), float(compound >= 0.05), float(compound <= -0.05)
    ]  # fmt: skip
    by_logit = [value * s for value in logits for s in style]
    return [*logits, *numbers, *decision, *style, *(s * compound for s in style), *by_logit]


def mix_inputs(logits: np.ndarray, numbers: np.ndarray, style: np.ndarray) -> np.ndarray:
    """The second step's inputs, one row per text (arrays of shape (n, 3), (n, NUMBERS),
    (n, STYLE)): the word model's three logits, VADER's numbers, VADER's own 3-class
    decision (its compound inside the neutral band, at or above +0.05, at or below -0.05),
    the style, and the style times VADER's compound and times each logit, so that the step
    can learn where to trust which."""
    compound = numbers[:, :1]
    decision = [np.abs(compound) < 0.05, compound >= 0.05, compound <= -0.05]  # 1.0 or 0.0
    by_logit = (logits[:, :, None] * style[:, None, :]).reshape(len(logits), -1)
    return np.hstack([logits, numbers, *decision, style, style * compound, by_logit])
