"""Micro-benchmark: what SQLite's statement timeout (storage/statement_budget.py) costs.

Two figures, each with and without the budget on a synchronous engine on a SQLite file,
as the batch writer uses it:
- the batch writer's kind of work: many short statements (a lookup by key and an insert,
  in transactions of 64), CPU microseconds per statement; these never reach the progress
  handler, so what they pay is the cursor setting the deadline as each one starts;
- a long statement (a recursive count), CPU milliseconds, for several handler intervals:
  the cost of the handler itself, single-threaded (with a busy event loop each call can
  also wait for the GIL, which is why `CHECK_EVERY` is large: see its comment).

    .venv/bin/python bench/statement_budget.py
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from storage.statement_budget import CHECK_EVERY, StatementBudget, budgeted_connection

ROUNDS = 5
STATEMENTS = 20_000
LONG = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) "
LONG += "SELECT count(*) FROM c"


def short_statements(path: Path, budget: bool) -> float:
    """CPU microseconds per statement, best of ROUNDS."""
    factory = {"factory": budgeted_connection(15.0)} if budget else {}
    engine = create_engine(f"sqlite:///{path}", connect_args=factory)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT)")
        connection.exec_driver_sql("DELETE FROM t")
    lookup, insert = text("SELECT v FROM t WHERE k = :k"), text("INSERT INTO t VALUES (:k, :v)")
    best = []
    for round_ in range(ROUNDS):
        started = time.process_time()
        with engine.connect() as connection:
            for batch in range(0, STATEMENTS // 2, 64):
                with connection.begin():
                    for k in range(batch, min(batch + 64, STATEMENTS // 2)):
                        key = round_ * STATEMENTS + k
                        connection.execute(lookup, {"k": key}).first()
                        connection.execute(insert, {"k": key, "v": "idea"})
        best.append((time.process_time() - started) / STATEMENTS * 1e6)
    engine.dispose()
    return min(best)


def long_statement(interval: int | None) -> float:
    """CPU milliseconds of the long statement, best of ROUNDS."""
    connection = sqlite3.connect(":memory:")
    if interval is not None:
        budget = StatementBudget(60.0)
        budget.start()
        connection.set_progress_handler(budget, interval)
    times = []
    for _ in range(ROUNDS):
        started = time.process_time()
        connection.execute(LONG).fetchone()
        times.append((time.process_time() - started) * 1e3)
    connection.close()
    return min(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        runs: dict[bool, list[float]] = {False: [], True: []}
        for turn in range(4):  # interleaved, so a busy machine weighs on both alike
            for budget in (False, True) if turn % 2 else (True, False):
                runs[budget].append(short_statements(Path(folder) / f"{turn}{budget}.db", budget))
        without, with_budget = min(runs[False]), min(runs[True])
    print(f"short statements: {without:.1f} µs/statement without the budget, "
          f"{with_budget:.1f} µs with it ({with_budget - without:+.1f} µs)")  # fmt: skip
    base = long_statement(None)
    print(f"long statement without a handler: {base:.0f} ms")
    for interval in sorted({20_000, 100_000, CHECK_EVERY}):
        cost = long_statement(interval)
        mark = "  <- CHECK_EVERY" if interval == CHECK_EVERY else ""
        print(f"  handler every {interval:>7,} instructions: {cost:.0f} ms "
              f"({(cost / base - 1) * 100:+.1f}%){mark}")  # fmt: skip


if __name__ == "__main__":
    main()
