"""Flag text a moderator should see before voters do: abuse, or an individual named.

Abuse is better_profanity's word list (with its l33t-speak matching), less the words a
health consultation needs to use (anatomy, conditions, identities, everyday words). Naming
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
from better_profanity.utils import get_complete_path_of_file, read_wordlist
from better_profanity.varying_string import VaryingString

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


class _IndexedWords(list[VaryingString]):
    """better_profanity's word list, searched by (length, first letter) instead of in full.

    The library tests each word of a text against all ~900 entries one by one, which takes
    half a second on a 2,000-character message; looking in one small bucket gives the same
    answers. Valid because every substitute in its character map is a single character.
    """

    def __init__(self, words: Iterable[VaryingString], char_map: Mapping[str, tuple[str, ...]]):
        super().__init__(words)
        self._buckets: dict[tuple[int, str], list[VaryingString]] = defaultdict(list)
        for word in self:
            original = str(word)
            for first in char_map.get(original[0], (original[0],)):
                self._buckets[(len(original), first)].append(word)

    def __contains__(self, candidate: object) -> bool:
        if not isinstance(candidate, str) or not candidate:
            return False
        bucket = self._buckets.get((len(candidate), candidate[0]), ())
        return any(word == candidate for word in bucket)


@cache
def _profanity() -> Profanity:
    """The one word list, loaded at first use and shared."""
    path = get_complete_path_of_file("profanity_wordlist.txt")
    words = [w for w in read_wordlist(path) if w.lower() not in NOT_ABUSE]
    profanity = Profanity(words)
    char_map = profanity.CHARS_MAPPING
    if all(len(sub) == 1 for subs in char_map.values() for sub in subs):
        profanity.CENSOR_WORDSET = _IndexedWords(profanity.CENSOR_WORDSET, char_map)
    return profanity


def is_abusive(text: str) -> bool:
    return bool(_profanity().contains_profanity(_ROAD.sub(" ", text)))


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
