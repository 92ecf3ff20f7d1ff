"""Whether two texts say opposite things, so that they are never offered as one idea.

Character n-grams see "Absolutely everything." and "Absolutely nothing." as 85% alike, and
"I can't think of anything." close to "I can think of anything." A pair is opposite when:

- one side is negated and the other is not ("not", "no", "never", "nothing", "none",
  "can't", "don't" ... an odd number of them on one side, an even number on the other);
- one side has a word whose antonym is on the other side only (more/less, everything/
  nothing, always/never, better/worse, increase/reduce ...), or the same word with a
  negating prefix ("helpful"/"unhelpful", "satisfied"/"dissatisfied");
- Chorus's sentiment model calls one positive and the other negative, both with a
  confidence of at least OPPOSITE_CONFIDENCE.

`are_opposite(a, b)` is pure (it reads only the two texts and the shipped model) and
cheap, so any "is this idea like that one?" question can ask it.
"""

from __future__ import annotations

from functools import lru_cache

from handlers.enrich.model import Scored, shipped_model
from handlers.enrich.model.features import words_of

# Narrower than the sentiment features' negations: "without", "lack", "hardly" often
# reword the same idea ("self-referral without seeing a GP") rather than reverse it.
NEGATORS = frozenset(
    {
        "not", "no", "never", "nothing", "none", "nobody", "nowhere", "neither", "nor",
        "cannot", "cant", "dont", "didnt", "doesnt", "isnt", "wasnt", "wont", "wouldnt",
        "couldnt", "shouldnt", "havent", "hasnt", "arent", "werent", "nope",
    }
)  # fmt: skip
_ANTONYM_PAIRS = (
    ("more", "less"), ("more", "fewer"), ("most", "least"), ("everything", "nothing"),
    ("everyone", "nobody"), ("everyone", "noone"), ("all", "none"), ("always", "never"),
    ("anything", "nothing"), ("can", "can't"), ("can", "cannot"), ("good", "bad"),
    ("better", "worse"), ("best", "worst"), ("increase", "decrease"), ("increase", "reduce"),
    ("increase", "cut"), ("raise", "cut"), ("raise", "lower"), ("longer", "shorter"),
    ("long", "short"), ("easy", "hard"), ("easy", "difficult"),
    ("easier", "harder"), ("open", "closed"), ("early", "late"), ("earlier", "later"),
    ("fast", "slow"), ("quick", "slow"), ("quicker", "slower"), ("faster", "slower"),
    ("high", "low"), ("higher", "lower"), ("like", "dislike"), ("liked", "disliked"),
    ("love", "hate"), ("loved", "hated"), ("agree", "disagree"), ("kind", "rude"),
    ("polite", "rude"), ("clean", "dirty"), ("start", "stop"), ("add", "remove"),
    ("allow", "ban"), ("allow", "forbid"),
    ("happy", "sad"), ("pleased", "disappointed"), ("satisfied", "disappointed"),
    ("excellent", "poor"), ("great", "terrible"), ("great", "awful"), ("good", "poor"),
    ("good", "awful"), ("good", "terrible"), ("helpful", "useless"), ("best", "worse"),
    ("worst", "better"), ("yes", "no"), ("right", "wrong"), ("safe", "unsafe"),
    ("public", "private"), ("cheaper", "dearer"), ("cheap", "expensive"), ("free", "paid"),
    ("keep", "scrap"), ("keep", "stop"), ("keep", "end"), ("expand", "close"),
    ("open", "close"), ("keep", "close"), ("free", "pay"),
    ("expand", "cut"), ("include", "exclude"),
)  # fmt: skip
ANTONYMS: dict[str, frozenset[str]] = {}
for _a, _b in _ANTONYM_PAIRS:
    ANTONYMS[_a] = ANTONYMS.get(_a, frozenset()) | {_b}
    ANTONYMS[_b] = ANTONYMS.get(_b, frozenset()) | {_a}
NEGATING_PREFIXES = ("un", "dis", "in", "im", "non")
OPPOSITE_CONFIDENCE = 0.8
# Words too short or too common for "same word with a prefix" to mean the opposite.
_MIN_PREFIXED = 4


def _is_negator(word: str) -> bool:
    return word in NEGATORS or word.endswith("n't")


def _negated(words: list[str]) -> bool:
    return sum(map(_is_negator, words)) % 2 == 1


def _antonym_on_one_side(first: set[str], second: set[str]) -> bool:
    only_first, only_second = first - second, second - first
    for word in only_first:
        if ANTONYMS.get(word, frozenset()) & only_second:
            return True
    for one, other in ((only_first, only_second), (only_second, only_first)):
        for word in one:
            if len(word) >= _MIN_PREFIXED and any(p + word in other for p in NEGATING_PREFIXES):
                return True
    return False


@lru_cache(maxsize=50_000)
def _sentiment(text: str) -> Scored:
    return shipped_model().score(text)


def opposite_sentiment(
    a: str, b: str, confidence: float = OPPOSITE_CONFIDENCE, *, a_scored: Scored | None = None
) -> bool:
    """One text confidently positive and the other confidently negative. `a_scored`: the
    model's score of `a` when the caller has it already (an idea's enrichment)."""
    first, second = a_scored or _sentiment(a), _sentiment(b)
    if min(first.confidence, second.confidence) < confidence:
        return False
    return {first.label, second.label} == {"positive", "negative"}


def are_opposite(a: str, b: str, *, a_scored: Scored | None = None) -> bool:
    """True when the two texts say opposite things (see the module's docstring);
    `a_scored` as in `opposite_sentiment`."""
    first, second = words_of(a), words_of(b)
    if _negated(first) != _negated(second):
        return True
    if _antonym_on_one_side(set(first), set(second)):
        return True
    return opposite_sentiment(a, b, a_scored=a_scored)
