"""Find personal data in text (emails, NHS numbers, phone numbers, UK postcodes) and
replace each with a marker such as [phone], before anything is stored.

The finders run in a fixed order, and a later finder never sees what an earlier one took
(it is masked, keeping every position): emails first (an address may contain digits that
look like a phone number), then NHS numbers (ten digits that phonenumbers would happily
call a phone number), then phone numbers, then postcodes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher

Span = tuple[int, int]

MARKERS: dict[str, str] = {
    "email": "[email]",
    "nhs_number": "[nhs-number]",
    "phone": "[phone]",
    "postcode": "[postcode]",
}

EMAIL = re.compile(
    r"[\w.!#$%&'*+/=?^`{|}~-]+@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,}(?![\w-])"
)

# Ten digits, written together or as 3-3-4 with the same separator (space or dash) twice.
NHS_NUMBER = re.compile(r"(?<![\d+])(\d{3})([ -]?)(\d{3})\2(\d{4})(?!\d)")
# After a country code the ten digits are a phone number ("+1 415 555 2671" passes the
# modulus-11 check), left to the phone finder.
_COUNTRY_CODE_BEFORE = re.compile(r"(?:\+|\b00)\d{1,3}[ .-]?$")

# Full postcodes only (outward code, optional space, inward code), per the Royal Mail
# format rules. Outward codes on their own ("SW1A", "M1") are left alone on purpose: one
# covers thousands of addresses, so it is a weak identifier and is useful for regional
# analysis, and it collides with everyday health text ("vitamin B12", "the M1", "E1").
POSTCODE = re.compile(
    r"\b(?:GIR ?0AA|[A-PR-UWYZ](?:\d{1,2}|[A-HK-Y]\d{1,2}|\d[A-HJKPSTUW]|[A-HK-Y]\d[ABEHMNPRVWXY])"
    r" ?\d[ABD-HJLNP-UW-Z]{2})\b",
    re.IGNORECASE,
)

# A phone number must start as people write one: "+44 …", "0044 …" or "07700 …" (a
# bracket first is allowed). Bare digit runs such as "2026", "1 2 3" or a ten-digit
# reference are not phone numbers.
_PHONE_START = re.compile(r"\(?[+0]")
# National significant number length from which a plausible number counts even when it
# is not in an allocated range (Ofcom's drama numbers, such as 07700 900123, are not).
_PHONE_MIN_DIGITS = 9


@dataclass(frozen=True)
class Redacted:
    """Text with personal data replaced by markers, and the kinds found, in text order."""

    text: str
    kinds: tuple[str, ...]


def is_valid_nhs_number(digits: str) -> bool:
    """True when `digits` is ten digits whose last is the NHS modulus-11 check digit."""
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return False
    total = sum(int(d) * weight for d, weight in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def find_emails(text: str) -> Iterator[Span]:
    for match in EMAIL.finditer(text):
        yield match.span()


def find_nhs_numbers(text: str) -> Iterator[Span]:
    for match in NHS_NUMBER.finditer(text):
        before = text[max(0, match.start() - 8) : match.start()]
        if _COUNTRY_CODE_BEFORE.search(before):
            continue
        if is_valid_nhs_number(match[1] + match[3] + match[4]):
            yield match.span()


def find_phone_numbers(text: str) -> Iterator[Span]:
    for match in PhoneNumberMatcher(text, "GB", leniency=Leniency.POSSIBLE):
        number = match.number
        if not _PHONE_START.match(match.raw_string):
            continue
        if phonenumbers.is_valid_number(number) or (
            phonenumbers.is_possible_number(number)
            and len(phonenumbers.national_significant_number(number)) >= _PHONE_MIN_DIGITS
        ):
            yield match.start, match.end


def find_postcodes(text: str) -> Iterator[Span]:
    for match in POSTCODE.finditer(text):
        letters = [c for c in match[0] if c.isalpha()]
        # Postcodes are written in one case; "B12 2nd" (vitamin B12, second dose) is not one.
        if all(c.isupper() for c in letters) or all(c.islower() for c in letters):
            yield match.span()


FINDERS: tuple[tuple[str, Callable[[str], Iterator[Span]]], ...] = (
    ("email", find_emails),
    ("nhs_number", find_nhs_numbers),
    ("phone", find_phone_numbers),
    ("postcode", find_postcodes),
)

# Every finder but the email one needs a digit (of any script: \d and phonenumbers read
# them all), and the email one an "@". Most texts have neither, and skip those finders.
_DIGIT = re.compile(r"\d")


def could_hold(kind: str, text: str) -> bool:
    """False when the finder for `kind` cannot find anything in `text`."""
    return "@" in text if kind == "email" else _DIGIT.search(text) is not None


# Hides found spans from later finders while keeping every position where it was.
# Cleaned text contains no NUL, and no finder matches one.
_MASK = "\x00"


def redact(text: str) -> Redacted:
    """Replace emails, NHS numbers, phone numbers and full UK postcodes with markers."""
    found: list[tuple[int, int, str]] = []
    masked = text
    for kind, finder in FINDERS:
        if not could_hold(kind, masked):
            continue
        spans = list(finder(masked))
        for start, end in spans:
            found.append((start, end, kind))
            masked = masked[:start] + _MASK * (end - start) + masked[end:]
    if not found:
        return Redacted(text, ())
    found.sort()
    parts: list[str] = []
    kinds: list[str] = []
    position = 0
    for start, end, kind in found:
        parts.append(text[position:start])
        parts.append(MARKERS[kind])
        position = end
        if kind not in kinds:
            kinds.append(kind)
    parts.append(text[position:])
    return Redacted("".join(parts), tuple(kinds))
