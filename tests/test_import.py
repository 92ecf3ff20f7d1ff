"""`chorus import`: paper forms from CSV and XLSX as assisted ideas, bad rows reported by
line while good rows are stored, repeats skipped, a dry run storing nothing, and the
printable form's fields matching the import's columns."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from bot.cli import main
from handlers.imports import FIELDS, PaperRow, RowError, check_row
from storage.database import Store
from storage.models import Contribution, Participant
from tests.conftest import TEST_SECRET, make_settings, write_config

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
CONFIG = make_settings("sqlite+aiosqlite://").consultation

GOOD = [
    {
        "question": "ahp-action",
        "text": "A physio drop-in at the library on Saturdays",
        "role": "Patient",
        "region": "north-west",
        "age_band": "75 or over",
        "worker_code": "CW-07",
        "date": "03/12/2026",
        "source_id": "F-001",
    },
    {"text": "Speech therapy by video for people in rural areas", "role": "slt"},
    {"text": "More podiatry clinics near bus routes", "worker_code": "CW-07"},
]
BAD = [
    {"text": "   ", "source_id": "F-009"},  # no text
    {"text": "Longer opening hours", "role": "astronaut"},
    {"text": "Walk-in clinics", "date": "next Tuesday"},
]


def write_csv(path: Path, rows: list[dict[str, str]], header=FIELDS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(header), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def run(args: list[str], workdir: Path, url: str, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("CHORUS_DATABASE_URL", url)
    monkeypatch.setenv("CHORUS_SECRET", TEST_SECRET)
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def stored(url: str) -> list[tuple[Contribution, Participant]]:
    async def read() -> list[tuple[Contribution, Participant]]:
        store = Store.connect(url)
        try:
            async with store.reader() as unit:
                rows = await unit.session.execute(
                    select(Contribution, Participant)
                    .join(Participant, Participant.id == Contribution.participant_id)
                    .order_by(Contribution.id)
                )
                return [tuple(row) for row in rows]
        finally:
            await store.close()

    return asyncio.run(read())


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    write_config(tmp_path / "config.yaml")
    return tmp_path


# --- One row ------------------------------------------------------------------------


def test_a_row_accepts_option_keys_labels_and_short_labels_in_any_case() -> None:
    row = check_row(2, {**GOOD[0], "region": "NW", "age_band": "75-PLUS"}, CONFIG, NOW)
    assert isinstance(row, PaperRow)
    assert row.answers == {"role": "patient", "region": "north-west", "age_band": "75-plus"}
    assert row.question_key == "ahp-action" and row.worker_code == "CW-07"
    assert row.written_at == datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    skipped = check_row(3, {"text": "An idea", "role": "Prefer not to say"}, CONFIG, NOW)
    assert isinstance(skipped, PaperRow) and skipped.answers["role"] is None


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"text": ""}, "the text is empty"),
        ({"text": "x" * 2001}, "the text is 2,001 characters; the limit is 2,000"),
        ({"text": "An idea", "role": "astronaut"}, "role 'astronaut' is not an option"),
        ({"text": "An idea", "question": "nope"}, "question 'nope' is not a question"),
        ({"text": "An idea", "date": "2027-01-01"}, "is in the future"),
        ({"text": "An idea", "date": "soon"}, "date 'soon' is not a date"),
    ],
)
def test_a_bad_row_says_why(fields: dict[str, str], reason: str) -> None:
    result = check_row(7, fields, CONFIG, NOW)
    assert isinstance(result, RowError) and result.line == 7
    assert reason in result.reason


# --- The command ----------------------------------------------------------------------


def test_csv_import_stores_good_rows_reports_bad_ones_and_skips_repeats(
    workdir: Path, database_url: str, monkeypatch, capsys
) -> None:
    # Lines: header 1, good 2-4, bad 5-7, a repeat of line 3 on line 8.
    source = write_csv(workdir / "event.csv", [*GOOD, *BAD, GOOD[1]])
    dry = run(["import", str(source), "--dry-run"], workdir, database_url, monkeypatch, capsys)
    assert dry[1].strip() == (
        "event.csv: 7 rows: would import 3, 1 already imported, 3 refused (dry run: nothing stored)"
    )
    assert stored(database_url) == []

    code, out, err = run(["import", str(source)], workdir, database_url, monkeypatch, capsys)
    assert code == 1  # some rows were refused
    assert out.strip() == "event.csv: 7 rows: imported 3, 1 already imported, 3 refused"
    assert err.splitlines() == [
        f"{source}: line 5: the text is empty",
        f"{source}: line 6: role 'astronaut' is not an option (keys: "
        + ", ".join(o.key for o in CONFIG.gateway_question("role").all_options())
        + ")",
        f"{source}: line 7: date 'next Tuesday' is not a date like 2026-12-01 or 01/12/2026",
    ]
    rows = stored(database_url)
    assert [c.text for c, _ in rows] == [g["text"] for g in GOOD]
    first, person = rows[0]
    assert (first.channel, first.assisted, first.worker_code) == ("paper", True, "CW-07")
    assert (first.role, first.region, first.age_band) == ("patient", "north-west", "75-plus")
    assert person.role == "patient" and person.consent_at is not None
    assert first.created_at == datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert first.language == "en" and first.label in ("positive", "neutral", "negative")
    assert rows[1][0].role == "speech-language-therapist" and rows[1][0].worker_code is None
    assert [c.idea_number for c, _ in rows] == [1, 2, 3]
    assert len({p.pseudonym for _, p in rows}) == 3  # each form is its own person

    again = run(["import", str(source)], workdir, database_url, monkeypatch, capsys)
    assert again[1].strip() == "event.csv: 7 rows: imported 0, 4 already imported, 3 refused"
    assert len(stored(database_url)) == 3


def test_xlsx_import_with_mapped_headers_redacts_and_keeps_source_ids(
    workdir: Path, database_url: str, monkeypatch, capsys
) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["Form no", "Idea", "Who", "Notes", "worker_code", "date"])
    sheet.append([101, "Call me on 07700 900123 about home visits", "Carer", "x", "CW-2", None])
    sheet.append([102, "", "Carer", "blank form", "CW-2", None])
    sheet.append([101, "The same form typed twice", "Carer", "", "CW-2", None])
    sheet.append(
        [
            103,
            "Evening clinics for working carers",
            "carer",
            "",
            "CW-2",
            datetime(2026, 12, 2, 15, 30),
        ]
    )
    path = workdir / "forms.xlsx"
    book.save(path)
    args = [
        "import",
        str(path),
        "--map",
        "Form no=source_id",
        "--map",
        "idea=text",
        "--map",
        "Who=role",
    ]
    code, out, err = run(args, workdir, database_url, monkeypatch, capsys)
    assert out.strip() == "forms.xlsx: 4 rows: imported 2, 1 already imported, 1 refused"
    assert err.strip() == f"{path}: line 3: the text is empty" and code == 1
    rows = stored(database_url)
    assert [c.text for c, _ in rows] == [
        "Call me on [phone] about home visits",
        "Evening clinics for working carers",
    ]
    assert all(c.role == "carer" and c.worker_code == "CW-2" for c, _ in rows)
    assert rows[1][0].created_at == datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
    # The mark left in the store is a keyed hash: no form number, no text.
    assert all("101" not in c.channel_message_id for c, _ in rows)
    again = run(args, workdir, database_url, monkeypatch, capsys)
    assert again[1].strip() == "forms.xlsx: 4 rows: imported 0, 3 already imported, 1 refused"


def test_a_file_without_a_text_column_is_refused_whole(workdir: Path, monkeypatch, capsys) -> None:
    source = write_csv(workdir / "odd.csv", [{"idea": "x"}], header=("idea", "role"))
    url = f"sqlite+aiosqlite:///{workdir / 'c.db'}"
    code, _out, err = run(["import", str(source)], workdir, url, monkeypatch, capsys)
    assert code == 2 and "no `text` column" in err and "--map COLUMN=text" in err
    code, _out, err = run(
        ["import", str(source), "--map", "idea=words"], workdir, url, monkeypatch, capsys
    )
    assert code == 2 and "'words' is not one of question, text" in err


def test_a_large_file_shows_a_progress_bar(workdir: Path, monkeypatch, capsys) -> None:
    import bot.cli.importer as importer

    monkeypatch.setattr(importer, "PROGRESS_FROM", 5)
    rows = [{"text": f"Idea number {n} for better clinics", "source_id": str(n)} for n in range(8)]
    source = write_csv(workdir / "many.csv", rows)
    url = f"sqlite+aiosqlite:///{workdir / 'c.db'}"
    code, out, err = run(["import", str(source)], workdir, url, monkeypatch, capsys)
    assert (
        code == 0 and out.strip() == "many.csv: 8 rows: imported 8, 0 already imported, 0 refused"
    )
    assert "8/8" in err and "row" in err
