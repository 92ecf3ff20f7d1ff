"""Flag text a moderator should see before voters do: abuse, or an individual named.

Abuse is better_profanity's word list (with its l33t-speak matching), less the words a
health consultation needs to use (anatomy, conditions, identities, everyday words),
matched by one automaton built from that list (`AbuseMatcher`) with the library's answers. Naming
is a heuristic: a title (Dr, Mr, Mrs, Ms, Miss, Nurse, Sister, Prof …) followed by a
capitalised name, as in "Dr Smith on ward 5 was rude". Both aim at few false positives: a
flag holds a contribution back from voters until a moderator has looked at it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Literal

from better_profanity import Profanity
from better_profanity.constants import ALLOWED_CHARACTERS
from better_profanity.utils import get_complete_path_of_file, read_wordlist

Flag = Literal["abuse", "named_person"]


def _words(*groups: str) -> frozenset[str]:
    return frozenset(word for group in groups for word in group.split())


# Words on better_profanity's list that are not abuse in health-service feedback. Words a
# safeguarding concern would use ("rape", "molest", …) stay on it: a moderator sees those
# first. Slurs stay on it, including those that look like identity words ("dyke", "homo").
NOT_ABUSE = _words(
    # anatomy, sexual and reproductive health
    "anal anus areole breasts clitoris crotch ejaculate ejaculated ejaculates ejaculating "
    "ejaculation enlargement erect erection facial foreskin glans gonad gonads hymen labia "
    "menses menstruate menstruation nipple nipples oral orally organ orgasm ovary ovum ovums "
    "penetrate penetration penile penis pms pubic pubis rectal rectum rectus scrotum semen sex "
    "sexual sperm tampon teste testes testical testicle testis urinal urine uterus vagina "
    "vulva womb",
    # conditions, treatments and substances people seek help with
    "herpes hiv stroke vomit heroin opiate opium valium viagra meth pcp hemp weed pot",
    # bodily functions and the words carers and parents use
    "pee poop potty nappy fart tinkle weewee willy willies undies dummy",
    # identities
    "gay gays lesbians queer queers transsexual",
    # everyday words
    "god hell damn drunk kill murder fat ugly naked nude strip thrust screw loin loins lust "
    "virgin vodka rum maxi revue len sandbar seaman seamen slope teat toots wad whiz pawn "
    "pasty sniper omg lmao lmfao xx xxx",
)

# Road numbers ("the A55 was shut") would otherwise read as l33t-speak: a55 → ass.
_ROAD = re.compile(r"\b[ABM]\d{1,4}\b")

_TITLE = r"(?:Dr|Mr|Mrs|Ms|Mx|Miss|Prof|Professor|Doctor|Nurse|Sister|Matron)"
_NAMED = re.compile(rf"\b{_TITLE}\.?[ \t]+([^\W\d_][\w'’-]*)")
# Capitalised words after a title that are not names: job titles ("Nurse Practitioners"),
# title-case phrases ("Don't Miss Out") and sentence starts after "Dr.".
NOT_NAMES = _words(
    "Practitioner Practitioners Associate Associates Specialist Specialists Consultant "
    "Consultants Prescriber Prescribers Prescribing Led Lead Leads Staff Staffing Bank "
    "Training Education Apprentice Apprentices Apprenticeship Manager Managers Team Teams "
    "Station Ward Wards Appointment Appointments Surgery Surgeries Role Roles Posts Jobs "
    "Vacancies Shortage Shortages Student Students Degree Degrees Trust Trusts Who Out "
    "The A An And But So Then It We They He She You My Our This That There In On At For "
    "If When Was Is",
)


class AbuseMatcher:
    """better_profanity's word list and matching rules, as one automaton over whole words.

    better_profanity splits text into words (runs of its allowed characters: letters of
    any script, digits, @ $ * ' "), and censors a word, or a word joined to the next few
    words (with or without what separates them: "bull shit", "s-h-i-t"), when its
    lower-case form equals an entry of the list with each letter either itself or one of
    its l33t substitutes ("sh1t", "$hit", "f*ck"). It tests every word against all ~800
    entries one by one (about 250 µs for a short message). Every substitute in its map is
    one character, so the same question is answered by a deterministic automaton built
    once from the list: one dictionary step per character, and a word is abuse when the
    walk ends in an accepting state. The answers are the library's, word for word
    (tests/test_moderation_matcher.py compares them).
    """

    def __init__(self, words: Iterable[str], char_map: Mapping[str, tuple[str, ...]]) -> None:
        entries = sorted({word.lower() for word in words})
        # The library joins a word with up to this many following words: the most
        # separators (characters outside words) in any one entry, at least one.
        self.max_joined = max([1, *(sum(c not in ALLOWED_CHARACTERS for c in w) for w in entries)])
        trie: list[dict[str, int]] = [{}]
        ends: set[int] = set()
        for entry in entries:
            node = 0
            for char in entry:
                child = trie[node].get(char)
                if child is None:
                    child = len(trie)
                    trie[node][char] = child
                    trie.append({})
                node = child
            ends.add(node)
        # What a written character may stand for: itself, and each letter it substitutes.
        stands_for: dict[str, set[str]] = defaultdict(set)
        for labels in trie:
            for char in labels:
                stands_for[char].add(char)
        for original, substitutes in char_map.items():
            for substitute in substitutes:
                stands_for[substitute].add(original)
        # Subset construction: a state is the set of trie nodes a prefix can have reached.
        states: dict[frozenset[int], int] = {frozenset((0,)): 0}
        pending = [frozenset((0,))]
        self._steps: list[dict[str, int]] = [{}]
        self._accepts: list[bool] = [False]
        while pending:
            nodes = pending.pop()
            steps = self._steps[states[nodes]]
            for char, originals in stands_for.items():
                following = frozenset(
                    trie[node][original]
                    for node in nodes
                    for original in originals
                    if original in trie[node]
                )
                if not following:
                    continue
                if following not in states:
                    states[following] = len(self._steps)
                    self._steps.append({})
                    self._accepts.append(bool(following & ends))
                    pending.append(following)
                steps[char] = states[following]

    def _walk(self, state: int, piece: str) -> int | None:
        steps = self._steps
        for char in piece:
            following = steps[state].get(char)
            if following is None:
                return None
            state = following
        return state

    def contains(self, text: str) -> bool:
        """Whether better_profanity's `contains_profanity(text)` would be True."""
        if text.isascii():
            # Lower-casing ASCII keeps every position, so the text is lowered once.
            text = text.lower()
            spans = [match.span() for match in _ASCII_WORD.finditer(text)]
        else:
            spans = [match.span() for match in _WORD.finditer(text)]
        last = len(text) - 1
        # The library's quirks, kept: a text whose first word starts on its last character
        # is not searched, and a one-character word ending the text is never joined on.
        if not spans or spans[0][0] >= last:
            return False
        accepts = self._accepts
        for index, (start, end) in enumerate(spans):
            state = self._walk(0, text[start:end].lower())
            if state is None:
                continue
            if accepts[state]:
                return True
            if self.max_joined == 1 and index % 2:
                # The library slides a window of following words along the text; one
                # word wide, it is empty at every other word, which then joins nothing.
                continue
            joined: int | None = state
            separated: int | None = state
            for following in range(index + 1, min(index + 1 + self.max_joined, len(spans))):
                next_start, next_end = spans[following]
                if next_start >= last:
                    break
                word = text[next_start:next_end].lower()
                if joined is not None:
                    joined = self._walk(joined, word)
                    if joined is not None and accepts[joined]:
                        return True
                if separated is not None:
                    gap = text[spans[following - 1][1] : next_start].lower()
                    separated = self._walk(separated, gap + word)
                    if separated is not None and accepts[separated]:
                        return True
                if joined is None and separated is None:
                    break
        return False


def _word_pattern() -> re.Pattern[str]:
    """A regular expression for better_profanity's words: runs of its allowed characters."""
    codes = sorted(map(ord, ALLOWED_CHARACTERS))
    ranges: list[tuple[int, int]] = []
    for code in codes:
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    members = "".join(
        re.escape(chr(low)) if low == high else f"{re.escape(chr(low))}-{re.escape(chr(high))}"
        for low, high in ranges
    )
    return re.compile(f"[{members}]+")


_WORD = _word_pattern()
_ASCII_WORD = re.compile(
    "[" + re.escape("".join(sorted(c for c in ALLOWED_CHARACTERS if c.isascii()))) + "]+"
)


def abuse_words() -> list[str]:
    """better_profanity's word list, less the words a health consultation needs."""
    path = get_complete_path_of_file("profanity_wordlist.txt")
    return [word for word in read_wordlist(path) if word.lower() not in NOT_ABUSE]


@cache
def abuse_matcher() -> AbuseMatcher:
    """The one matcher, built at first use (about 0.1 s) and shared."""
    # The l33t map is set per instance; a one-word list builds one without the full list.
    return AbuseMatcher(abuse_words(), Profanity(["-"]).CHARS_MAPPING)


def is_abusive(text: str) -> bool:
    return abuse_matcher().contains(_ROAD.sub(" ", text))


def names_a_person(text: str) -> bool:
    for match in _NAMED.finditer(text):
        name = match[1]
        if name[0].isupper() and any(c.islower() for c in name) and name not in NOT_NAMES:
            return True
    return False


def moderation_flag(text: str) -> Flag | None:
    """Why `text` should wait for a moderator ("abuse" before "named_person"), or None."""
    if is_abusive(text):
        return "abuse"
    if names_a_person(text):
        return "named_person"
    return None
