"""Measuring text the way phone networks bill it: in SMS segments.

GSM-7 (3GPP TS 23.038; the character set comes from the `gsm0338` codec): 160 septets fit
in one segment, 153 in each part of a split message, and the extension characters
( ^ { } [ ] ~ \\ | € and form feed) take two septets each. One character outside GSM-7
makes the whole message UCS-2: 70 UTF-16 code units in one segment, 67 per part, and a
character beyond the Basic Multilingual Plane (most emoji) takes two. A split never cuts
an escape pair or a surrogate pair, so parts are filled character by character.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

GSM7, UCS2 = "GSM-7", "UCS-2"
# (units in a single-segment message, units per segment of a split message)
LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}

# Typographic characters that phones and word processors put in text, with the GSM-7
# characters that look the same; one curly apostrophe would otherwise double the cost.
_LOOKALIKES = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
        "\u2015": "-", "\u2212": "-", "\u2026": "...", "\u00a0": " ", "\u2009": " ",
        "\u202f": " ", "\u2007": " ", "\u200b": "", "\u2022": "-", "\u00b7": "-",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Measure:
    encoding: str  # GSM-7 or UCS-2
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


@functools.lru_cache(maxsize=4096)
def _gsm_width(char: str) -> int | None:
    try:
        return len(char.encode("gsm03.38"))
    except UnicodeEncodeError:
        return None


# GSM-7's basic characters (one septet each) all lie below U+0400 (its Greek capitals
# end at U+03A9); a text made only of these is measured without looking at each one.
_BASIC = frozenset(c for c in map(chr, range(0x400)) if _gsm_width(c) == 1)


def encoding_of(text: str) -> str:
    return GSM7 if all(_gsm_width(c) is not None for c in text) else UCS2


def _widths(text: str, encoding: str) -> list[int]:
    if encoding == GSM7:
        return [_gsm_width(c) or 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def measure(text: str) -> Measure:
    if _BASIC.issuperset(text):  # every character one septet (most replies)
        single, per_part = LIMITS[GSM7]
        total = len(text)
        parts = (1 if text else 0) if total <= single else -(-total // per_part)
        return Measure(GSM7, total, parts)
    encoding = encoding_of(text)
    widths = _widths(text, encoding)
    single, per_part = LIMITS[encoding]
    total = sum(widths)
    if total <= single:
        return Measure(encoding, total, 1 if text else 0)
    parts, used = 1, 0
    for width in widths:
        if used + width > per_part:
            parts, used = parts + 1, 0
        used += width
    return Measure(encoding, total, parts)


def segments(text: str) -> int:
    return measure(text).segments


def fits(text: str, max_segments: int) -> bool:
    return measure(text).segments <= max_segments


def gsm_friendly(text: str) -> str:
    """`text` with curly quotes, long dashes, ellipses and odd spaces replaced by their
    GSM-7 look-alikes. For display only: what people wrote is stored as they wrote it."""
    return text.translate(_LOOKALIKES)
