"""The rows of a CSV or XLSX file, keyed by the import's field names.

Headers are matched without regard to case or surrounding spaces; `--map COLUMN=FIELD`
names the field of any other header. Columns that are neither a field nor mapped are
ignored (a form's "notes" column does no harm). Each row comes with its line number in
the file (the header is line 1), so a refused row can be found and corrected.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from handlers.imports.rows import FIELDS


class TableError(ValueError):
    """The file as a whole cannot be imported (unreadable, no `text` column, ...)."""


@dataclass(frozen=True)
class Table:
    columns: dict[int, str]  # column position -> field
    rows: Iterator[tuple[int, dict[str, str]]]  # (line number, field -> value)
    total: int | None  # rows in the file, when known without reading it twice


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """`["Idea=text", "Site=region"]` -> {"idea": "text", "site": "region"}."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, sep, field = pair.partition("=")
        column, field = column.strip().lower(), field.strip().lower()
        if not sep or not column or not field:
            raise TableError(f"--map {pair!r}: write it as COLUMN=FIELD, e.g. Idea=text")
        if field not in FIELDS:
            raise TableError(f"--map {pair!r}: {field!r} is not one of {', '.join(FIELDS)}")
        mapping[column] = field
    return mapping


def _columns(header: Sequence[object], mapping: Mapping[str, str]) -> dict[int, str]:
    columns: dict[int, str] = {}
    for position, name in enumerate(header):
        key = str(name).strip().lower() if name is not None else ""
        field = mapping.get(key) or (key if key in FIELDS else None)
        if field is None:
            continue
        if field in columns.values():
            raise TableError(f"two columns give the field {field!r}; map one elsewhere")
        columns[position] = field
    if "text" not in columns.values():
        raise TableError(
            "no `text` column: name the idea's column `text`, or add --map COLUMN=text"
        )
    return columns


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a form number typed into Excel comes back as 12.0
    return str(value).strip()


def _fields(columns: dict[int, str], values: Sequence[object]) -> dict[str, str]:
    return {
        field: _cell(values[position]) if position < len(values) else ""
        for position, field in columns.items()
    }


def read_table(path: Path, mapping: Mapping[str, str] | None = None) -> Table:
    mapping = mapping or {}
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, mapping)
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path, mapping)
    raise TableError(f"{path.name}: import reads .csv or .xlsx files")


def _read_csv(path: Path, mapping: Mapping[str, str]) -> Table:
    try:
        with path.open(encoding="utf-8-sig", newline="") as counting:
            total = max(sum(1 for _ in csv.reader(counting)) - 1, 0)
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as error:
        raise TableError(f"{path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise TableError(f"{path.name}: not UTF-8 text; save it as CSV UTF-8") from None
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None:
        handle.close()
        raise TableError(f"{path.name} is empty")
    try:
        columns = _columns(header, mapping)
    except TableError:
        handle.close()
        raise

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        with handle:
            while True:
                first_line = reader.line_num + 1  # a quoted cell may span several lines
                values = next(reader, None)
                if values is None:
                    return
                if any(value.strip() for value in values):
                    yield first_line, _fields(columns, values)

    return Table(columns, rows(), total)


def _read_xlsx(path: Path, mapping: Mapping[str, str]) -> Table:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except OSError as error:
        raise TableError(f"{path}: {error.strerror}") from None
    except Exception as error:  # openpyxl raises several kinds for a file that is not XLSX
        raise TableError(f"{path.name}: not a readable XLSX workbook ({error})") from None
    sheet = workbook.worksheets[0]
    lines = sheet.iter_rows(values_only=True)
    header = next(lines, None)
    if header is None:
        workbook.close()
        raise TableError(f"{path.name}: its first sheet is empty")
    try:
        columns = _columns(list(header), mapping)
    except TableError:
        workbook.close()
        raise
    total = max((sheet.max_row or 1) - 1, 0)

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        try:
            for line, values in enumerate(lines, start=2):
                if any(_cell(value) for value in values):
                    yield line, _fields(columns, list(values))
        finally:
            workbook.close()

    return Table(columns, rows(), total)
