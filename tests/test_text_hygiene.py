"""Text hygiene (handlers/enrich/hygiene.py through clean_text): terminal escapes removed
whole, bidirectional overrides and isolates removed, right-to-left marks kept; and, as
properties over any text, nothing dangerous survives and cleaning twice changes nothing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.enrich import clean_text

DANGEROUS = set(map(chr, [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]))
DANGEROUS |= set("\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029\ufffe\uffff\ufdd0")
DANGEROUS |= {"\U0010ffff", "\U0001fffe"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\x1b[31mred\x1b[0m", "red"),
        ("\x1b[1;38;5;196mbold\x1b[m", "bold"),
        ("a\x1b]8;;https://evil.example\x07link\x1b]8;;\x1b\\b", "alinkb"),
        ("\x1b]0;new window title\x07hi", "hi"),
        ("\x1bPq#0;2;0;0;0\x1b\\ok", "ok"),
        ("\x1b(Bok\x1bc", "ok"),
        ("k\x9b31mred", "kred"),
        ("k\x9fthe rest is kept", "kthe rest is kept"),
        ("invoice_\u202egpj.exe", "invoice_gpj.exe"),
        ("a\u2066b\u2067c\u2068d\u2069e\u202d", "abcde"),
        ("עברית \u202bembedded\u202c", "עברית \u202bembedded\u202c"),  # embeddings stay
        ("\u200fשלום\u200e and \u061cمرحبا", "\u200fשלום\u200e and \u061cمرحبا"),
        ("line one\u2028line two\u2029three", "line one\nline two\nthree"),
        ("not\ufffe text\uffff\ufdd0\U0010ffff", "not text"),
        ("👩\u200d⚕️ Zażółć", "👩\u200d⚕️ Zażółć"),
    ],
)
def test_escapes_and_bidi_controls_are_removed_whole(text: str, expected: str) -> None:
    assert clean_text(text) == expected


@given(st.text())
def test_nothing_dangerous_survives_and_cleaning_is_idempotent(text: str) -> None:
    cleaned = clean_text(text)
    assert not DANGEROUS & set(cleaned)
    assert clean_text(cleaned) == cleaned


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp"))))
def test_ordinary_text_is_kept_exactly(text: str) -> None:
    assert clean_text(text) == text
