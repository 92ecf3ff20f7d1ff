"""Paper forms and events into the store: `chorus import FILE.csv|FILE.xlsx`.

- table.py reads the rows of a CSV or XLSX file under the import's field names;
- rows.py checks one row against the consultation (question, gateway answers, date,
  length) and gives a `PaperRow` or the reason it was refused;
- apply.py enriches the good rows and stores them, in batches, as assisted contributions.
"""

from handlers.imports.apply import ImportSummary, import_rows
from handlers.imports.rows import FIELDS, PaperRow, RowError, check_row
from handlers.imports.table import TableError, read_table

__all__ = [
    "FIELDS",
    "ImportSummary",
    "PaperRow",
    "RowError",
    "TableError",
    "check_row",
    "import_rows",
    "read_table",
]
