"""What the load benchmark (bench/load.py) compares Chorus with: bare inserts (one
INSERT + COMMIT per row, no HTTP) and the naive pipeline (an aiohttp server that checks
the signature and does one INSERT + COMMIT per message), on SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import sqlite3
import time
from pathlib import Path

from aiohttp import web
from load_traffic import PUBLIC_SMS_URL, SECRET_HEADER, SMS_PATH, TELEGRAM_PATH, an_idea

NAIVE_TABLE = "inbound"


CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {NAIVE_TABLE} (id {{key}}, channel TEXT NOT NULL, "
    "message_id TEXT NOT NULL UNIQUE, sender TEXT NOT NULL, body TEXT NOT NULL, "
    "received_at DOUBLE PRECISION NOT NULL)"
)


def open_sqlite(path: Path) -> sqlite3.Connection:
    """SQLite set up as Chorus sets it up: WAL, synchronous=NORMAL."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA busy_timeout=5000")
    connection.execute(CREATE_TABLE.format(key="INTEGER PRIMARY KEY"))
    return connection


SQLITE_INSERT = (
    f"INSERT INTO {NAIVE_TABLE} (channel, message_id, sender, body, received_at) "
    "VALUES (?, ?, ?, ?, ?)"
)
POSTGRES_INSERT = (
    f"INSERT INTO {NAIVE_TABLE} (channel, message_id, sender, body, received_at) "
    "VALUES ($1, $2, $3, $4, $5)"
)


def hashed(sender: str) -> str:
    """A pseudonym, never the raw phone number."""
    return hashlib.sha256(sender.encode()).hexdigest()[:24]


async def bare_inserts(backend: str, location: str, rows: int, writers: int) -> dict[str, float]:
    """`rows` rows inserted one INSERT + COMMIT at a time, in this process: on SQLite by
    its one writer, on PostgreSQL by `writers` connections at once."""
    values = [("sms", f"SM{n:032x}", hashed(f"+44{n:010d}"), an_idea(n), time.time())
              for n in range(rows)]  # fmt: skip
    cpu_before = time.process_time()
    if backend == "sqlite":
        connection = open_sqlite(Path(location))
        started = time.perf_counter()
        for row in values:
            connection.execute("BEGIN")
            connection.execute(SQLITE_INSERT, row)
            connection.execute("COMMIT")
        elapsed = time.perf_counter() - started
        connection.close()
    else:
        import asyncpg

        # PostgreSQL waits for a flush at each COMMIT and flushes concurrent COMMITs
        # together, so its floor is as many writers as there are messages in flight.
        connections = [await asyncpg.connect(location) for _ in range(writers)]
        await connections[0].execute(CREATE_TABLE.format(key="BIGSERIAL PRIMARY KEY"))

        async def writer(connection, share: list[tuple]) -> None:
            for row in share:
                await connection.execute(POSTGRES_INSERT, *row)  # autocommit: a COMMIT each

        started = time.perf_counter()
        await asyncio.gather(*(writer(c, values[n::writers]) for n, c in enumerate(connections)))
        elapsed = time.perf_counter() - started
        for connection in connections:
            await connection.close()
    cpu = time.process_time() - cpu_before
    return {
        "rows": rows,
        "seconds": round(elapsed, 3),
        "rows_per_s": round(rows / elapsed, 1),
        "cpu_ms_per_row": round(cpu * 1000 / rows, 3),
    }


# --- The naive pipeline (run as `bench/load.py --serve-naive URL --port P`) -------------


def naive_app(store_url: str, auth_token: str, telegram_secret: str) -> web.Application:
    """The pipeline anyone would write first: check the signature, INSERT, COMMIT, 200."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(auth_token)
    app = web.Application()
    state: dict[str, object] = {}

    async def insert(channel: str, message_id: str, sender: str, body: str) -> None:
        row = (channel, message_id, hashed(sender), body, time.time())
        if "sqlite" in state:
            connection = state["sqlite"]
            connection.execute("BEGIN")
            connection.execute(SQLITE_INSERT, row)
            connection.execute("COMMIT")
        else:
            await state["pool"].execute(POSTGRES_INSERT, *row)

    async def sms(request: web.Request) -> web.Response:
        form = await request.post()
        params = {key: str(value) for key, value in form.items()}
        if not validator.validate(
            PUBLIC_SMS_URL, params, request.headers.get("X-Twilio-Signature", "")
        ):
            return web.Response(status=403, text="bad signature")
        await insert("sms", params["MessageSid"], params["From"], params.get("Body", ""))
        return web.Response(text="<Response/>", content_type="application/xml")

    async def telegram(request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, ""), telegram_secret):
            return web.Response(status=403)
        update = await request.json()
        message = update.get("message") or {}
        sender = str((message.get("from") or {}).get("id", ""))
        await insert("telegram", str(update["update_id"]), sender, message.get("text", ""))
        return web.json_response({})

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def open_store(_app: web.Application):
        if store_url.startswith("sqlite:///"):
            state["sqlite"] = open_sqlite(Path(store_url.removeprefix("sqlite:///")))
        else:
            import asyncpg

            pool = await asyncpg.create_pool(store_url, min_size=2, max_size=16)
            await pool.execute(CREATE_TABLE.format(key="BIGSERIAL PRIMARY KEY"))
            state["pool"] = pool
        yield
        if "sqlite" in state:
            state["sqlite"].close()
        else:
            await state["pool"].close()

    app.cleanup_ctx.append(open_store)
    app.router.add_post(SMS_PATH, sms)
    app.router.add_post(TELEGRAM_PATH, telegram)
    app.router.add_get("/healthz", healthz)
    return app


def serve_naive(store_url: str, port: int) -> None:
    app = naive_app(store_url, os.environ["LOAD_AUTH_TOKEN"], os.environ["LOAD_TELEGRAM_SECRET"])
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)
