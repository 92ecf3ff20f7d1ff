"""Micro-benchmark: what counting messages per minute in the store (PostgreSQL,
storage/message_counts.py) adds to each batch the writer commits.

Batches of 64 messages from different people (the writer's largest batch, the common
case under load) are counted as the batch writer counts them, in a transaction on a
synchronous connection through asyncpg, on a scratch table of the same shape (a
temporary table: nothing is left behind). Prints CPU and wall time per message.

    .venv/bin/python bench/message_counts.py [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from storage.effects import Decision
from storage.message_counts import MessageCounts

BATCH = 64
BATCHES = 300
SCRATCH = (
    "CREATE TEMPORARY TABLE message_counts (pseudonym varchar(64), minute timestamptz, "
    "count integer NOT NULL, PRIMARY KEY (pseudonym, minute))"
)


def run(connection: Connection) -> tuple[float, float]:
    connection.exec_driver_sql(SCRATCH)
    connection.commit()
    counts = MessageCounts(30, lambda tell: Decision(claim=False))
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    cpu = wall = 0.0
    for number in range(BATCHES):
        now = start + timedelta(seconds=number // 10)  # ten batches a second
        sent = [(f"person-{(number * BATCH + k) % 5000}", now) for k in range(BATCH)]
        with connection.begin():  # the commit is the batch's own: not counted here
            cpu_at, wall_at = time.process_time(), time.perf_counter()
            counts.refused(connection, sent)
            cpu += time.process_time() - cpu_at
            wall += time.perf_counter() - wall_at
    messages = BATCHES * BATCH
    return cpu / messages * 1e6, wall / messages * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    url = make_url(parser.parse_args().postgres).set(drivername="postgresql+asyncpg")
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        cpu, wall = await connection.run_sync(run)
    await engine.dispose()
    print(f"message_counts: {cpu:.1f} µs CPU and {wall:.1f} µs wall per message "
          f"(batches of {BATCH})")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
