"""Exports for analysts: contributions, votes per idea and themes, as CSV, one JSON
document, JSON Lines or one XLSX workbook (openpyxl). People appear only by pseudonym
(shortened to 12 characters, longer only where two would share one); contributions and
ideas carry who spoke as they described themselves then (role group, role, region, age
band); every table has channel and language columns (for a theme, its ideas by channel
and by language); the vote coding (agree = 1, disagree = -1, skip = 0) is stated in the
column names of the vote counts and on the workbook's About sheet.

Rows are streamed from the store in batches, so a large consultation never sits in
memory at once; the command line and the team's chat share this one implementation.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from datetime import datetime
from typing import Any, BinaryIO, TextIO

from storage.database import Store
from storage.exports import CONTRIBUTION_COLUMNS, contribution_rows, idea_rows, theme_rows
from storage.insights import Scope

FORMATS = ("csv", "xlsx", "json", "jsonl")
TEXT_FORMATS = ("csv", "json", "jsonl")
TABLES = ("contributions", "ideas", "themes")
VOTE_CODING = "agree = 1, disagree = -1, skip = 0"
EXCEL_MAX_ROWS = 1_048_575  # one row is the header

# Column names as written; the ideas table names the coding of each vote count.
IDEA_COLUMNS = {
    "id": "id",
    "idea_number": "idea_number",
    "question": "question",
    "role_group": "role_group",
    "role": "role",
    "region": "region",
    "age_band": "age_band",
    "channel": "channel",
    "language": "language",
    "status": "status",
    "duplicate_of": "duplicate_of",
    "label": "sentiment",
    "theme": "theme",
    "theme_label": "theme_label",
    "agree": "agree_votes (coded 1)",
    "disagree": "disagree_votes (coded -1)",
    "skip": "skip_votes (coded 0)",
    "votes": "votes",
    "net": f"net_vote (sum of coded votes: {VOTE_CODING})",
    "mean": "mean_vote (-1 to 1)",
    "score": "wilson_lower_bound",
    "controversy": "controversy",
    "consensus": "consensus (lowest agree share across role groups)",
    "created_at": "created_at",
    "text": "text",
    "sentiment_confidence": "sentiment_confidence",  # new columns go last
}
THEME_COLUMNS = (
    "question",
    "theme",
    "label",
    "top_terms",
    "ideas",
    "positive",
    "neutral",
    "negative",
    "unscored",
    "channels",
    "languages",
    "representative_ideas",
    "as_of",
)
# The contributions table's vote counts, named with their coding as in the ideas table.
CONTRIBUTION_TITLES = {
    "agree": IDEA_COLUMNS["agree"],
    "disagree": IDEA_COLUMNS["disagree"],
    "skip": IDEA_COLUMNS["skip"],
}


def _coded(row: dict) -> dict:
    votes = row["agree"] + row["disagree"] + row["skip"]
    net = row["agree"] - row["disagree"]
    coded = {**row, "votes": votes, "net": net, "mean": round(net / votes, 4) if votes else None}
    return {title: coded[key] for key, title in IDEA_COLUMNS.items()}


def columns_of(table: str) -> list[str]:
    if table == "contributions":
        return [CONTRIBUTION_TITLES.get(column, column) for column in CONTRIBUTION_COLUMNS]
    if table == "ideas":
        return list(IDEA_COLUMNS.values())
    return list(THEME_COLUMNS)


async def table_rows(store: Store, table: str, scope: Scope) -> AsyncGenerator[dict, None]:
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; choose from {', '.join(TABLES)}")
    async with store.reader() as unit:
        if table == "themes":
            for row in await theme_rows(unit.session, question_id=scope.question_id):
                yield row
            return
        source = contribution_rows if table == "contributions" else idea_rows
        async for row in source(
            unit.session,
            question_id=scope.question_id,
            since=scope.since_at,
            grouping=unit.tallies.grouping,
        ):
            if table == "ideas":
                yield _coded(row)
            else:
                yield {CONTRIBUTION_TITLES.get(key, key): value for key, value in row.items()}


async def write_text(store: Store, out: TextIO, fmt: str, table: str, scope: Scope) -> int:
    """One table as CSV, one JSON document (an array of rows) or JSON Lines (one row
    per line); returns how many rows were written. Rows are written as they are read."""
    if fmt not in TEXT_FORMATS:
        raise ValueError(f"{fmt} writes all tables to one file; use write_xlsx")
    count = 0
    writer = csv.DictWriter(out, fieldnames=columns_of(table)) if fmt == "csv" else None
    if writer:
        writer.writeheader()
    elif fmt == "json":
        out.write("[")
    # Closed at once if writing fails (a reader that went away), never left to the
    # garbage collector with its store session open.
    async with aclosing(table_rows(store, table, scope)) as rows:
        async for row in rows:
            if writer:
                writer.writerow(row)
            elif fmt == "json":
                out.write(("," if count else "") + "\n" + json.dumps(row, ensure_ascii=False))
            else:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    if fmt == "json":
        out.write("\n]\n")
    return count


async def export_contributions(store: Store, out: TextIO, fmt: str) -> int:
    """Every contribution as CSV, JSON or JSON Lines (the original `chorus export`)."""
    return await write_text(store, out, fmt, "contributions", Scope())


async def write_xlsx(
    store: Store,
    out: BinaryIO,
    scope: Scope,
    *,
    title: str,
    scope_text: str,
    now: datetime,
    tables: tuple[str, ...] = TABLES,
) -> dict[str, int]:
    """All tables as sheets of one workbook, with an About sheet; rows per table."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    about = workbook.create_sheet("About")
    counts: dict[str, int] = {}
    for table in tables:
        async with aclosing(table_rows(store, table, scope)) as rows:
            counts[table] = await _write_sheets(workbook, table, rows)
    for line in (
        [title],
        ["Exported", now.isoformat(timespec="seconds")],
        ["Covers", scope_text],
        ["Vote coding", VOTE_CODING],
        [
            "People",
            "pseudonyms only (a keyed hash, shortened to 12 characters, longer only where "
            "two people would share one); no names, numbers or chat ids",
        ],
        *([f"Rows: {table}", count] for table, count in counts.items()),
    ):
        about.append(line)
    workbook.save(out)
    return counts


async def _write_sheets(workbook: Any, table: str, rows: AsyncIterator[dict]) -> int:
    """Rows of one table, over as many sheets as Excel's row limit needs."""
    columns = columns_of(table)
    sheet: Any
    sheet, in_sheet, count, part = None, EXCEL_MAX_ROWS, 0, 0
    async for row in rows:
        if in_sheet >= EXCEL_MAX_ROWS:
            part += 1
            sheet = workbook.create_sheet(table.capitalize() + (f" {part}" if part > 1 else ""))
            sheet.append(columns)
            in_sheet = 0
        sheet.append([_cell(sheet, row[column]) for column in columns])
        in_sheet += 1
        count += 1
    if sheet is None:
        workbook.create_sheet(table.capitalize()).append(columns)
    return count


def _cell(sheet: Any, value: object) -> object:
    """Text that starts with "=" is written as text, never as a formula."""
    if isinstance(value, str) and value.startswith("="):
        from openpyxl.cell import WriteOnlyCell

        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"
        return cell
    return value


async def export_documents(
    store: Store,
    fmt: str,
    scope: Scope,
    *,
    title: str,
    scope_text: str,
    now: datetime,
    name: Callable[[str], str],
) -> list[tuple[str, bytes, str, dict[str, int]]]:
    """Files for the chat: (filename, content, mime type, rows per table). XLSX is one
    workbook; CSV is one file per table."""
    if fmt == "xlsx":
        buffer = io.BytesIO()
        counts = await write_xlsx(store, buffer, scope, title=title, scope_text=scope_text, now=now)
        mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return [(name("xlsx"), buffer.getvalue(), mime, counts)]
    documents = []
    for table in TABLES:
        text = io.StringIO()
        count = await write_text(store, text, "csv", table, scope)
        documents.append(
            (name(f"{table}.csv"), text.getvalue().encode("utf-8-sig"), "text/csv", {table: count})
        )
    return documents
