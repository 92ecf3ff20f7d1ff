"""Strip control characters from incoming text and leave every other character alone.

Chorus stores what people wrote: emoji, Welsh, Polish and right-to-left scripts are kept
exactly (no Unicode normalisation), and so are the invisible format characters they rely
on, such as ZERO WIDTH JOINER (U+200D) in emoji sequences and RIGHT-TO-LEFT MARK (U+200F).
Terminal escape sequences go whole and bidirectional overrides go too (hygiene.py).
"""

from __future__ import annotations

import re

from handlers.enrich.hygiene import sanitize

# C0 controls except tab (U+0009) and line feed (U+000A), DEL, and the C1 controls; plus
# lone surrogates, which are not text at all and cannot be encoded as UTF-8 for storage.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Return `text` without control characters; nothing else is changed.

    A carriage return is a line break, so CRLF and a lone CR become LF rather than
    disappearing and joining two lines.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", sanitize(text))
