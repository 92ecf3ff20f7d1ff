"""Load benchmark: whole journeys of signed SMS webhooks and Telegram webhook updates from
many simulated people, sent over loopback to Chorus and, in the same run, to what Chorus
must be compared with.

Each person goes through a journey (start, consent, three skipped gateway questions, an
idea, VOTE and five votes); a share of them do it over Telegram's webhook, the rest by SMS
(each request signed as Twilio signs it). Before the timed run a few people share ideas,
untimed, so there is something to vote on. For every backend asked for, it measures:

- bare: the same number of rows inserted straight into the same kind of store, one
  INSERT + COMMIT each (no HTTP; on PostgreSQL from --in-flight connections at once) —
  what a commit per message costs at best;
- naive: an aiohttp server that checks the Twilio signature (or the Telegram secret) and
  does one INSERT + COMMIT per message (SQLite in WAL mode, or PostgreSQL), on the same
  traffic;
- chorus: `chorus run` in a process of its own with a temporary config and store (on
  PostgreSQL once with one worker and once with two, the requests spread over them as a
  load balancer would, one person's messages alternating between workers).

Chorus is driven only over HTTP and through its command line and config, so this works
whatever the engine inside looks like. Printed for each: messages/s, p50/p95/p99 latency,
CPU ms per message of the server process(es) (not of this load generator), their peak
RSS, errors, and the ratios Chorus/naive and Chorus/bare.

Telegram replies are sent after the webhook is answered, through python-telegram-bot's
rate limiter, which keeps to Telegram's 30 messages a second: a burst's replies go out
after the traffic that caused them. The fake Bot API counts them; each Chorus run reports
`telegram_replies` (sent in the timed window, sent after it, and how long the rest took)
and waits for them all before its open loops and before the next phase. The CPU of the
replies sent after the window is not in the CPU a message (bench/telegram_send.py
measures a send's CPU).

The closed loop keeps `--in-flight` people sending at once, each waiting for its answer.
`--rate 500,1000` adds open-loop runs: messages offered at that fixed rate for
`--seconds`, whatever the answers, each latency counted from when the message was due
(so a server that falls behind shows it); a request unanswered after 15 s (when Twilio
gives up) is an error. `--arrivals` says how the people's messages share the slots:
"lockstep" (the default), message k of every person before message k + 1 of any, so each
step comes as a burst (all the ideas within a second: the hardest case); "interleaved",
every step of the journey in flight at once in its share of the mix, each person's next
message a few slots after their last. The median latency of each step is printed too
(`p50_ms_by_step`), which shows the step that holds the rest up.

    .venv/bin/python bench/load.py                          # SQLite and PostgreSQL
    .venv/bin/python bench/load.py --backends sqlite --messages 3000 --rate 500,1000
    .venv/bin/python bench/load.py --backends sqlite --rate 500 --arrivals lockstep,interleaved
    .venv/bin/python bench/load.py --backends sqlite --json
    .venv/bin/python bench/load.py --rounds 3 --workers 1    # medians of 3 alternating rounds

On a shared, noisy machine one run's CPU figures can move by 10-30%. `--rounds N` runs
the whole comparison N times, the backends alternating (SQLite, PostgreSQL, SQLite...),
and reports the median of each headline figure and of PostgreSQL's CPU a message over
SQLite's within each round (`postgresql_to_sqlite_cpu`); every round is kept under
`rounds`.

PostgreSQL is expected at --postgres (trust auth); a scratch database is created for
each server and dropped afterwards.

The traffic is built in load_traffic.py, sent by load_drive.py, to servers started by
load_servers.py; the bare inserts and the naive pipeline are in load_baselines.py.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import platform
import secrets
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from load_baselines import bare_inserts, serve_naive
from load_drive import ARRIVALS, closed_loop, open_loop, people_needed
from load_servers import (
    FakeBotApi,
    Servers,
    chorus_config,
    cpu_seconds,
    peak_rss,
    postgres_database,
    run_command,
    server_env,
    serving,
)
from load_traffic import Requests, journey, people, seeding

HERE = Path(__file__).resolve()
CHORUS = [sys.executable, "-m", "bot"]  # the command line, as an operator runs it


# --- One backend, every pipeline ---------------------------------------------------------


@dataclass
class Settings:
    messages: int
    in_flight: int
    rates: list[float]
    seconds: float
    arrivals: list[str]
    telegram_share: float
    postgres: str
    workers: list[int]


async def measure(
    servers: Servers,
    requests: Requests,
    settings: Settings,
    tag: int,
    stored: Callable[[], Awaitable[dict]] | None = None,
    telegram: FakeBotApi | None = None,
) -> tuple[dict, list[dict]]:
    """Seed, then the timed closed loop (with the servers' CPU and memory), then any open
    loops; new people each time. `stored` reads back what the store holds after the closed
    loop, to set beside what the traffic should have left there; `telegram`, the fake Bot
    API the servers send their Telegram replies to."""
    per_person = len(journey(0))
    # At least six ideas, so that everyone has five (not their own) to vote on.
    seeders = people(max(settings.in_flight, 6), tag, settings.telegram_share, seeding)
    # Untimed; a message refused while the server warms up is sent again, as Twilio would.
    await closed_loop(servers.urls, seeders, requests, settings.in_flight, resend=True)
    if telegram is not None:
        await telegram.sent_all()  # the seeding's replies, outside the timed window
    crowd = people(math.ceil(settings.messages / per_person), tag + 1, settings.telegram_share)
    processes = servers.processes
    cpu_before = cpu_seconds(processes)
    replies_before = telegram.replies if telegram is not None else 0
    run = await closed_loop(servers.urls, crowd, requests, settings.in_flight)
    run.cpu_seconds = cpu_seconds(processes) - cpu_before
    run.peak_rss_bytes = peak_rss(processes)
    figures = run.figures()
    if telegram is not None:
        # Replies held back by Telegram's rate limit go out after the timed window, and
        # their CPU is not in cpu_ms_per_msg: say how many, and wait for them, so that
        # they do not fall into the open loops' windows either.
        in_window = telegram.replies - replies_before
        waited = await telegram.sent_all()
        figures["telegram_replies"] = {
            "in_window": in_window,
            "after_window": telegram.replies - replies_before - in_window,
            "seconds_to_send_the_rest": round(waited, 1),
        }
    if stored is not None:
        votes = sum(text in ("1", "2") for person in crowd for text in person.texts)
        expected = {"participants": len(seeders) + len(crowd), "ideas": len(seeders) + len(crowd)}
        figures["stored"] = await stored()
        figures["expected"] = {**expected, "votes": votes}
    open_runs = []
    loops = itertools.product(settings.rates, settings.arrivals)
    for number, (rate, arrivals) in enumerate(loops):
        total = max(1, int(rate * settings.seconds))
        needed = people_needed(arrivals, total, per_person)
        crowd = people(needed, tag + 2 + number, settings.telegram_share)
        cpu_before = cpu_seconds(processes)
        offered = await open_loop(servers.urls, crowd, requests, rate, total, arrivals)
        offered.cpu_seconds = cpu_seconds(processes) - cpu_before
        offered.peak_rss_bytes = peak_rss(processes)
        if telegram is not None:
            await telegram.sent_all()
        open_runs.append({"offered_per_s": rate, "arrivals": arrivals, **offered.figures()})
    return figures, open_runs


async def one_backend(backend: str, settings: Settings, workdir: Path, say) -> dict:
    auth_token, telegram_secret = secrets.token_hex(16), secrets.token_hex(16)
    requests = Requests(auth_token, telegram_secret)
    telegram = settings.telegram_share > 0
    per_person = len(journey(0))
    rows = math.ceil(settings.messages / per_person) * per_person
    tags = itertools.count(secrets.randbelow(900) * 10 + 1000, 10)
    detail: dict = {}
    async with AsyncExitStack() as stack:

        async def store(label: str) -> tuple[str, str]:
            """A fresh store: (its URL for Chorus, for the bare and naive pipelines)."""
            if backend == "sqlite":
                path = workdir / f"{label}.db"
                return f"sqlite+aiosqlite:///{path}", f"sqlite:///{path}"
            url = await stack.enter_async_context(postgres_database(settings.postgres))
            return url.replace("postgresql://", "postgresql+asyncpg://", 1), url

        _, plain = await store("bare")
        bare_location = plain.removeprefix("sqlite:///") if backend == "sqlite" else plain
        detail["bare"] = await bare_inserts(backend, bare_location, rows, settings.in_flight)
        say(f"{backend} bare inserts: {detail['bare']['rows_per_s']:.0f} rows/s")

        _, plain = await store("naive")
        env = {**os.environ, "LOAD_AUTH_TOKEN": auth_token, "LOAD_TELEGRAM_SECRET": telegram_secret}
        command = [sys.executable, str(HERE), "--serve-naive", plain]
        async with serving("naive", [command], env, workdir) as servers:
            detail["naive"], detail["naive_open_loop"] = await measure(
                servers, requests, settings, next(tags)
            )
        say(f"{backend} naive pipeline: {detail['naive']['msgs_per_s']:.0f} messages/s")

        fake = await stack.enter_async_context(FakeBotApi()) if telegram else None
        detail["chorus"] = {}
        detail["chorus_open_loop"] = {}
        for workers in settings.workers if backend == "postgresql" else [1]:
            database_url, _ = await store(f"chorus-{workers}")
            config = chorus_config(workdir, fake.base_url if fake else None)
            env = server_env(database_url, auth_token, telegram_secret, telegram)

            if backend == "postgresql":
                await run_command([*CHORUS, "db", "upgrade", "--config", str(config)], env, workdir)
            serve = [*CHORUS, "run", "--config", str(config)]

            async def summary_of_store(env: dict[str, str] = env, config: Path = config) -> dict:
                command = [*CHORUS, "summary", "--json", "--config", str(config)]
                held = json.loads(await run_command(command, env, workdir))
                return {key: held.get(key) for key in ("participants", "ideas", "votes")}

            async with serving(f"chorus-{workers}", [serve] * workers, env, workdir) as servers:
                figures, open_runs = await measure(
                    servers, requests, settings, next(tags), summary_of_store, fake
                )
            detail["chorus"][str(workers)] = figures
            detail["chorus_open_loop"][str(workers)] = open_runs
            replies = figures.get("telegram_replies")
            held = (
                f"; Telegram replies sent in the timed window {replies['in_window']}, "
                f"after it {replies['after_window']} ({replies['seconds_to_send_the_rest']} s; "
                "their CPU is not in the CPU a message)"
                if replies
                else ""
            )
            say(
                f"{backend} chorus x{workers}: {figures['msgs_per_s']:.0f} messages/s, "
                f"{figures['errors']} errors{held}"
            )
    one = detail["chorus"]["1"]
    detail["ratio_to_naive"] = round(
        one["msgs_per_s"] / max(detail["naive"]["msgs_per_s"], 1e-9), 3
    )
    detail["ratio_to_bare"] = round(one["msgs_per_s"] / max(detail["bare"]["rows_per_s"], 1e-9), 3)
    if "2" in detail["chorus"]:
        detail["two_workers_to_one"] = round(
            detail["chorus"]["2"]["msgs_per_s"] / max(one["msgs_per_s"], 1e-9), 3
        )
    return detail


# The headline figures: with several rounds, each is the median of the rounds'.
HEADLINE = (
    "chorus_msgs_per_s", "naive_msgs_per_s", "bare_rows_per_s", "ratio_to_naive",
    "ratio_to_bare", "p50_ms", "p95_ms", "p99_ms", "cpu_ms_per_msg", "peak_rss_mb",
    "postgresql_to_sqlite_cpu",
)  # fmt: skip


def combined(rounds: Sequence[dict]) -> dict:
    """One result from the rounds: the first round's details, its headline figures
    replaced by the medians over every round, errors summed, each round kept."""
    result = dict(rounds[0])
    if len(rounds) > 1:
        for key in HEADLINE:
            values = [r[key] for r in rounds if r.get(key) is not None]
            if values:
                result[key] = round(statistics.median(values), 3)
        result["errors"] = sum(r["errors"] for r in rounds)
        result["rounds"] = [
            {key: r.get(key) for key in (*HEADLINE, "errors", "backends")} for r in rounds
        ]
    return result


def summary(backends: dict[str, dict], settings: Settings) -> dict:
    first = next(iter(backends.values()))
    one = first["chorus"]["1"]
    both = {"sqlite", "postgresql"} <= set(backends)
    return {
        "chorus_msgs_per_s": one["msgs_per_s"],
        "naive_msgs_per_s": first["naive"]["msgs_per_s"],
        "bare_rows_per_s": first["bare"]["rows_per_s"],
        "ratio_to_naive": first["ratio_to_naive"],
        "ratio_to_bare": first["ratio_to_bare"],
        "p50_ms": one["p50_ms"],
        "p95_ms": one["p95_ms"],
        "p99_ms": one["p99_ms"],
        "cpu_ms_per_msg": one["cpu_ms_per_msg"],
        "peak_rss_mb": one["peak_rss_mb"],
        "errors": one["errors"],
        # PostgreSQL's CPU a message (one worker) over SQLite's, in the same round.
        "postgresql_to_sqlite_cpu": round(
            backends["postgresql"]["chorus"]["1"]["cpu_ms_per_msg"]
            / max(backends["sqlite"]["chorus"]["1"]["cpu_ms_per_msg"], 1e-9),
            3,
        )
        if both
        else None,
        "backend": next(iter(backends)),
        "backends": backends,
        "settings": {
            "messages": settings.messages,
            "in_flight": settings.in_flight,
            "rates": settings.rates,
            "seconds": settings.seconds,
            "arrivals": settings.arrivals,
            "telegram_share": settings.telegram_share,
            "journey": len(journey(0)),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
    }


def print_report(result: dict) -> None:
    settings = result["settings"]
    machine = result["machine"]
    print(
        f"load: {settings['messages']} messages (journeys of {settings['journey']}, "
        f"{settings['telegram_share']:.0%} on Telegram), {settings['in_flight']} in flight; "
        f"{machine['cpus']} CPUs, Python {machine['python']}"
    )
    header = (
        f"{'pipeline':<26}{'msgs/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'CPU ms/msg':>12}{'peak RSS MB':>13}{'errors':>8}"
    )

    def row(label: str, f: dict) -> str:
        return (
            f"{label:<26}{f['msgs_per_s']:>9.1f}{f['p50_ms']:>9.1f}{f['p95_ms']:>9.1f}"
            f"{f['p99_ms']:>9.1f}{f['cpu_ms_per_msg']:>12.3f}{f['peak_rss_mb']:>13.1f}"
            f"{f['errors']:>8}"
        )

    for backend, detail in result["backends"].items():
        bare = detail["bare"]
        print(f"\n[{backend}]")
        print(
            f"bare inserts (a COMMIT each): {bare['rows_per_s']:.0f} rows/s, "
            f"{bare['cpu_ms_per_row']:.3f} CPU ms/row"
        )
        print(header)
        print(row("naive (aiohttp + INSERT)", detail["naive"]))
        for workers, figures in detail["chorus"].items():
            print(row(f"chorus x{workers}", figures))
        ratios = (
            f"chorus/naive {detail['ratio_to_naive']:.3f}, "
            f"chorus/bare {detail['ratio_to_bare']:.3f}"
        )
        if "two_workers_to_one" in detail:
            ratios += f", two workers/one {detail['two_workers_to_one']:.3f}"
        print(ratios)
        opened = [("naive", r) for r in detail["naive_open_loop"]] + [
            (f"chorus x{w}", r) for w, runs in detail["chorus_open_loop"].items() for r in runs
        ]
        if opened:
            print("open loop (latency from when each message was due):")
            for label, r in opened:
                print(
                    f"  {label:<10} offered {r['offered_per_s']:>6.0f}/s "
                    f"({r.get('arrivals', 'lockstep')}): answered "
                    f"{r['msgs_per_s']:>7.1f}/s, p50 {r['p50_ms']:.1f} ms, "
                    f"p99 {r['p99_ms']:.1f} ms, errors {r['errors']} {r['statuses']}"
                )
                steps = " ".join(f"{ms:.0f}" for ms in r.get("p50_ms_by_step", []))
                print(f"  {'':<10} median ms by step of the journey: {steps}")
    if result.get("postgresql_to_sqlite_cpu") is not None:
        ratio = result["postgresql_to_sqlite_cpu"]
        print(f"\nPostgreSQL/SQLite CPU a message (one worker): {ratio:.2f}")
    if "rounds" in result:
        print(f"\nthe details above are round 1's; medians of {len(result['rounds'])} rounds:")
        for key in ("cpu_ms_per_msg", "ratio_to_naive", "postgresql_to_sqlite_cpu", "p99_ms"):
            values = ", ".join(str(r.get(key)) for r in result["rounds"])
            print(f"  {key}: {result.get(key)} (rounds: {values})")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql", help="default: %(default)s")
    parser.add_argument("--messages", type=int, default=1200, help="timed messages per server")
    parser.add_argument("--in-flight", type=int, default=16, help="people sending at once")
    parser.add_argument("--rate", default="", help="open-loop offered rates, e.g. 500,1000")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each open loop")
    parser.add_argument(
        "--arrivals",
        default="lockstep",
        help=f"open-loop arrivals, any of {','.join(ARRIVALS)} (default: %(default)s)",
    )
    parser.add_argument("--telegram-share", type=float, default=0.25, help="of the people")
    parser.add_argument("--workers", default="1,2", help="Chorus workers on PostgreSQL")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat, backends alternating; report medians"
    )
    parser.add_argument("--serve-naive", metavar="STORE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_naive:
        serve_naive(args.serve_naive, args.port)
        return
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not backends or set(backends) - {"sqlite", "postgresql"}:
        parser.error("--backends takes sqlite and/or postgresql")
    if not 0 <= args.telegram_share <= 1 or args.messages < 1 or args.in_flight < 1:
        parser.error("--telegram-share is 0 to 1; --messages and --in-flight at least 1")
    if args.rounds < 1:
        parser.error("--rounds is at least 1")
    arrivals = [a.strip() for a in args.arrivals.split(",") if a.strip()]
    if not arrivals or set(arrivals) - set(ARRIVALS):
        parser.error(f"--arrivals takes {' and/or '.join(ARRIVALS)}")
    workers = sorted({int(w) for w in args.workers.split(",")})
    if 1 not in workers:
        workers.insert(0, 1)
    settings = Settings(
        messages=args.messages,
        in_flight=args.in_flight,
        rates=[float(r) for r in args.rate.split(",") if r.strip()],
        seconds=args.seconds,
        arrivals=arrivals,
        telegram_share=args.telegram_share,
        postgres=args.postgres.rstrip("/"),
        workers=workers,
    )

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    async def everything() -> dict:
        rounds = []
        for number in range(1, args.rounds + 1):
            if args.rounds > 1:
                say(f"round {number} of {args.rounds}")
            results = {}
            with tempfile.TemporaryDirectory(prefix="chorus-load-") as tmp:
                for backend in backends:
                    results[backend] = await one_backend(backend, settings, Path(tmp), say)
            rounds.append(summary(results, settings))
        return combined(rounds)

    result = asyncio.run(everything())
    if args.json:
        print(json.dumps(result))
    else:
        print_report(result)


if __name__ == "__main__":
    main()
