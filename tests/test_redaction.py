"""Personal data is replaced by markers before storage, and only control characters are
stripped: every other character (emoji, Welsh, Polish, Arabic) is kept exactly."""

from __future__ import annotations

import unicodedata

import pytest

from handlers.enrich import clean_text
from handlers.enrich.redact import is_valid_nhs_number, redact

# --- NHS numbers ----------------------------------------------------------------------


@pytest.mark.parametrize("digits", ["9434765919", "4010232137", "4505577104"])
def test_valid_nhs_numbers_pass_the_modulus_11_check(digits: str) -> None:
    assert is_valid_nhs_number(digits)


@pytest.mark.parametrize(
    "digits",
    [
        "9434765918",  # wrong check digit
        "1000000010",  # remainder gives check digit 10: never issued
        "943476591",  # nine digits
        "94347659190",  # eleven digits
        "943476591x",
    ],
)
def test_invalid_nhs_numbers_fail_the_check(digits: str) -> None:
    assert not is_valid_nhs_number(digits)


@pytest.mark.parametrize("written", ["943 476 5919", "943-476-5919", "9434765919"])
def test_a_valid_nhs_number_is_redacted_in_any_usual_layout(written: str) -> None:
    result = redact(f"My NHS number is {written}, thanks")
    assert result.text == "My NHS number is [nhs-number], thanks"
    assert result.kinds == ("nhs_number",)


@pytest.mark.parametrize("text", ["My number is 943 476 5918", "Ref 1234567890 on the letter"])
def test_ten_digits_failing_the_check_are_neither_an_nhs_number_nor_a_phone(text: str) -> None:
    # Not written as a phone number (no leading 0 or +), and not a valid NHS number.
    assert redact(text).text == text
    assert redact(text).kinds == ()


def test_an_nhs_number_is_not_called_a_phone_number() -> None:
    result = redact("NHS no: 943 476 5919, tel 0161 496 0000")
    assert result.text == "NHS no: [nhs-number], tel [phone]"
    assert result.kinds == ("nhs_number", "phone")


@pytest.mark.parametrize("number", ["+1 415 555 2671", "+44 943 476 5919", "0048 943-476-5919"])
def test_ten_digits_after_a_country_code_are_a_phone_number(number: str) -> None:
    # 415 555 2671 happens to pass the modulus-11 check too.
    assert is_valid_nhs_number("4155552671")
    result = redact(f"Call {number}")
    assert result.text == "Call [phone]"
    assert result.kinds == ("phone",)


# --- Phone numbers --------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "07700 900123",  # UK mobile (Ofcom drama range: possible, not allocated)
        "07700900123",
        "+44 7700 900123",
        "+447700900123",
        "0044 7700 900123",
        "020 7946 0958",  # London
        "(020) 7946 0958",
        "0161 496 0000",
        "+1 415 555 2671",  # United States
        "+48 612 345 678",  # Poland
        "00 48 612 345 678",
    ],
)
def test_uk_and_international_phone_numbers_are_redacted(number: str) -> None:
    result = redact(f"Call me on {number} after six")
    assert result.text == "Call me on [phone] after six"
    assert result.kinds == ("phone",)


@pytest.mark.parametrize(
    "text",
    [
        "In 2026 we had 3 ideas",
        "Rank them 1 2 3",
        "Ward 5, bed 12, room 101",
        "Dose 0.5 mg at 09:30-10:45",
        "Born 01/02/1980",
        "Rated 10/10 by 250 people",
        "Score 0 1 2 3 4 5",
    ],
)
def test_numbers_that_are_not_phone_numbers_are_kept(text: str) -> None:
    assert redact(text).text == text


# --- Emails ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["bob@example.com", "bob.smith+nhs@example.co.uk", "o'brien@nhs.net", "jan@przykład.pl"],
)
def test_emails_are_redacted(address: str) -> None:
    result = redact(f"Write to {address}.")
    assert result.text == "Write to [email]."
    assert result.kinds == ("email",)


def test_an_email_with_digits_is_one_email_not_a_phone() -> None:
    result = redact("07700900123@example.com")
    assert result.text == "[email]"
    assert result.kinds == ("email",)


# --- Postcodes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "postcode",
    ["SW1A 1AA", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "EC1A 1BB", "sw1a 1aa", "SW1A1AA"],
)
def test_full_uk_postcodes_are_redacted_in_either_case(postcode: str) -> None:
    result = redact(f"I live at {postcode} near the clinic")
    assert result.text == "I live at [postcode] near the clinic"
    assert result.kinds == ("postcode",)


@pytest.mark.parametrize(
    "text",
    [
        "Clinics in SW1A are busy",  # an outward code alone is kept
        "Vitamin B12 2nd dose",  # looks like "B12 2ND" but is not written as a postcode
        "Stuck on the M1 for hours",
    ],
)
def test_partial_postcodes_and_lookalikes_are_kept(text: str) -> None:
    assert redact(text).text == text


# --- Several, none, and the text around them ------------------------------------------


def test_text_without_personal_data_is_unchanged() -> None:
    text = "More physiotherapists in GP surgeries, please! 2 ideas for 2026."
    result = redact(text)
    assert result.text == text
    assert result.kinds == ()


def test_several_kinds_are_all_redacted_and_listed_once_in_text_order() -> None:
    text = (
        "Ring 07700 900123 or 07700 900456, email ann@example.com, "
        "NHS 943 476 5919, at CR2 6XH; ann@example.com again"
    )
    result = redact(text)
    assert result.text == (
        "Ring [phone] or [phone], email [email], NHS [nhs-number], at [postcode]; [email] again"
    )
    assert result.kinds == ("phone", "email", "nhs_number", "postcode")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("📞 07700 900123 🙂👩‍👩‍👧", "📞 [phone] 🙂👩‍👩‍👧"),
        (
            "Mae'r gwasanaeth yn wych! Ffoniwch 07700 900123",
            "Mae'r gwasanaeth yn wych! Ffoniwch [phone]",
        ),
        ("Zażółć gęślą jaźń: jan@example.pl, Łódź", "Zażółć gęślą jaźń: [email], Łódź"),
        ("اتصل بي على 07700 900123 شكرا", "اتصل بي على [phone] شكرا"),
        ("\u200fשלום ann@example.com תודה", "\u200fשלום [email] תודה"),
    ],
)
def test_unicode_around_a_redaction_is_kept_exactly(text: str, expected: str) -> None:
    assert redact(text).text == expected


# --- Control characters ---------------------------------------------------------------


def test_control_characters_are_stripped() -> None:
    assert clean_text("a\x00b\x07cd\x7fe\x85f\x9fg") == "abcdefg"
    # ESC starts a sequence, removed whole (handlers/enrich/hygiene.py): ESC c is a reset.
    assert clean_text("a\x1bcb") == "ab"


def test_newlines_and_tabs_are_kept_and_carriage_returns_become_newlines() -> None:
    assert clean_text("one\ttwo\nthree\r\nfour\rfive") == "one\ttwo\nthree\nfour\nfive"


@pytest.mark.parametrize(
    "text",
    [
        "👩‍👩‍👧 family, 👍🏽 thumbs up, 🏳️‍🌈 flag",  # ZWJ sequences, skin tone, VS16
        "\u200fمرحبا بالعالم\u200f",  # right-to-left marks around Arabic
        "עברית \u202bembedded\u202c",  # explicit bidi embedding
        "Mae'r gwasanaeth yn wych; ŵ ŷ â",
        "Zażółć gęślą jaźń",
        "Cafe\u0301 and Café",  # decomposed and composed: no normalisation
        "soft\u00adhyphen and zero\u200bwidth space",
    ],
)
def test_every_other_character_is_stored_exactly(text: str) -> None:
    assert clean_text(text) == text


def test_text_is_not_unicode_normalised() -> None:
    decomposed = "Cafe\u0301"
    assert clean_text(decomposed) != unicodedata.normalize("NFC", decomposed)


def test_lone_surrogates_are_dropped_because_they_cannot_be_stored() -> None:
    assert clean_text("bad \ud83d half") == "bad  half"
