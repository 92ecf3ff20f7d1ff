"""Exports of the contributions (pseudonyms only) as CSV or JSON lines, written to any
text stream, so the command line and the team's chat share one implementation."""

from __future__ import annotations

import csv
import json
from typing import TextIO

from storage.database import Store
from storage.exports import CONTRIBUTION_COLUMNS, contribution_rows

FORMATS = ("csv", "json")


async def export_contributions(store: Store, out: TextIO, fmt: str) -> int:
    """Write every contribution to `out`; returns how many rows were written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    count = 0
    async with store.reader() as unit:
        if fmt == "csv":
            writer = csv.DictWriter(out, fieldnames=CONTRIBUTION_COLUMNS)
            writer.writeheader()
            async for row in contribution_rows(unit.session):
                writer.writerow(row)
                count += 1
        else:
            async for row in contribution_rows(unit.session):
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
    return count
