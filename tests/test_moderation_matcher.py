"""The abuse matcher answers exactly as better_profanity's own scan over the same list."""

from __future__ import annotations

import random

import pytest
from better_profanity import Profanity

from handlers.enrich.moderation import AbuseMatcher, abuse_matcher, abuse_words, is_abusive

L33T = {"a": "@4*", "i": "1l*", "o": "0@*", "u": "v*", "e": "3*", "s": "$5", "t": "7", "l": "1"}
FIXED = [
    "bull shit",
    "bull-shit",
    "bull  shit",
    "son of a bitch",
    "son-of-a-bitch",
    "s-h-i-t",
    "s.h.i.t.",
    "s h i t",
    "f_u_c_k",
    "f u c k",
    "jack off",
    "jack off!",
    "'shit'",
    '"shit"',
    "Shït",
    "SHIT happens",
    "sh1t",
    "$h!t",
    "x shit",
    "a",
    "sh",
    "",
    "   ",
    "!!!",
    "Scunthorpe",
    "assessment",
    "class assignment",
    "pass the salt",
    "Dr Smith is a shit doctor",
    "The physiotherapists were wonderful and really helpful",
    "Zażółć gęślą jaźń, kurwa",
    "mother fucker",
    "motherfucker",
    "go to hell",
    "b",
]


def _generated(count: int, seed: int) -> list[str]:
    """Entries of the list in l33t, upper case, split by separators and in sentences."""
    rng = random.Random(seed)
    words = abuse_words()
    texts = []
    for _ in range(count):
        word = rng.choice(words)
        word = "".join(rng.choice(L33T[c]) if c in L33T and rng.random() < 0.3 else c for c in word)
        if rng.random() < 0.3:
            word = word.upper()
        if rng.random() < 0.3:
            middle = len(word) // 2
            word = word[:middle] + rng.choice([" ", "-", ".", "_", "  ", ", "]) + word[middle:]
        before = rng.choice(["", "what ", "the ", "x", "Nurse "])
        after = rng.choice(["", " now", "!", "s", " x", "'", " and the ward"])
        texts.append(before + word + after)
    return texts


@pytest.fixture(scope="module")
def library() -> Profanity:
    return Profanity(abuse_words())


@pytest.mark.parametrize("text", FIXED)
def test_fixed_cases_match_the_library(library: Profanity, text: str) -> None:
    assert abuse_matcher().contains(text) == library.contains_profanity(text)


def test_generated_cases_match_the_library(library: Profanity) -> None:
    texts = _generated(300, seed=12)
    mismatched = [t for t in texts if abuse_matcher().contains(t) != library.contains_profanity(t)]
    assert mismatched == []
    # The cases are worth comparing: most are abuse, some are not.
    flagged = sum(map(abuse_matcher().contains, texts))
    assert 0.5 * len(texts) < flagged < len(texts)


@pytest.mark.parametrize("entries", [["ab cd"], ["ab cd", "e f g"], ["ab-cd", "x y z w v"]])
def test_joined_words_match_the_library_for_any_list(entries: list[str]) -> None:
    matcher = AbuseMatcher(entries, {"a": ("a", "4")})
    library = Profanity(entries)
    texts = [
        "ab cd",
        "4b cd",
        "x ab cd y",
        "x y ab cd",
        "abcd",
        "ab-cd",
        "ab x cd",
        "ab cde",
        "e f g",
        "q e f g h",
        "x y z w v",
        "1 x y z w v",
    ]
    assert [matcher.contains(t) for t in texts] == [library.contains_profanity(t) for t in texts]


def test_road_numbers_are_not_read_as_l33t() -> None:
    assert not is_abusive("The A55 was shut")
    assert is_abusive("what an a55")
