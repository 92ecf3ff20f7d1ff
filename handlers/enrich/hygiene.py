"""Text hygiene: what must never reach the store, so that the stored text is exactly what
a moderator will see.

- Terminal escape sequences are removed whole (CSI such as ESC [31m, OSC such as a
  hyperlink or window title, DCS/PM/APC strings up to their terminator, and
  two-character escapes); stripping only the ESC character would leave "[31mred[0m"
  behind. A string introducer without a terminator goes alone, never the rest of the
  text: a stray character must not swallow what follows it.
- Bidirectional overrides and isolates (LRO, RLO U+202D-U+202E; LRI, RLI, FSI, PDI
  U+2066-U+2069) are removed: RIGHT-TO-LEFT OVERRIDE can make "gpj.exe" read as
  "exe.jpg" to a moderator. What right-to-left writing does use is kept: the marks (LRM
  U+200E, RLM U+200F, ALM U+061C) and embeddings (LRE, RLE, PDF U+202A-U+202C), which
  cannot reverse the letters of a word, only place neutral characters.
- The Unicode line and paragraph separators (U+2028, U+2029) become line breaks.
- Noncharacters (U+FDD0-U+FDEF, and U+FFFE and U+FFFF in every plane) are removed: they
  are not text, and XML 1.0 forbids U+FFFE and U+FFFF, so an SMS reply quoting one would
  be TwiML that Twilio refuses.

Control characters themselves are stripped by `clean_text` (handlers/enrich/clean.py),
after the escape sequences here are gone.
"""

from __future__ import annotations

import re

_ESCAPE_SEQUENCE = re.compile(
    r"""
    (?:\x1b\[|\x9b) [\x30-\x3f]* [\x20-\x2f]* [\x40-\x7e]?   # CSI: ESC [ or 8-bit CSI
    | \x1b[\]P^_X] [^\x07\x1b\x9c]* (?:\x07|\x1b\\|\x9c)        # OSC, DCS, PM, APC, SOS
    | \x1b [\x20-\x2f]* [\x30-\x7e]?                           # other escapes: ESC ( B, ESC c
    """,
    re.VERBOSE,
)
# ESC, or a C1 control (8-bit CSI and string terminators): the cheap test before the
# sequences are looked for (one search, not a Python loop over every character).
_MAY_ESCAPE = re.compile("[\x1b\x80-\x9f]")
_BIDI_CONTROLS = re.compile("[\u202d\u202e\u2066-\u2069]")
_NONCHARACTERS = dict.fromkeys(
    [
        *range(0xFDD0, 0xFDF0),
        *(plane + end for plane in range(0, 0x110000, 0x10000) for end in (0xFFFE, 0xFFFF)),
    ]
)
_SEPARATORS = str.maketrans({"\u2028": "\n", "\u2029": "\n", **_NONCHARACTERS})


def strip_escape_sequences(text: str) -> str:
    return _ESCAPE_SEQUENCE.sub("", text) if _MAY_ESCAPE.search(text) else text


def strip_bidi_controls(text: str) -> str:
    return _BIDI_CONTROLS.sub("", text)


def sanitize(text: str) -> str:
    """Escape sequences, bidirectional controls and noncharacters removed, separators
    made line breaks."""
    return strip_bidi_controls(strip_escape_sequences(text)).translate(_SEPARATORS)
