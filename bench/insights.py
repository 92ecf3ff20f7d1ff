"""Benchmark: the team's reports on a large store, on SQLite and PostgreSQL.

Builds a store with 1,000,000 contributions, 5,000,000 votes and 200,000 participants
(at --scale 1.0), bulk-loaded (SQLite: executemany in one transaction per table;
PostgreSQL: COPY through asyncpg), then fills the aggregates with the same SQL rebuild
the migration uses (storage/rebuild.py, with the config's role groups) and, in a
process of its own, runs the background analyses (themes, similar ideas) once. Each
report is then timed several times, through the code the bot runs (handlers/insights
and a team member's /summary through the engine), in a fresh process; the peak memory
of that process and of the analyses' process are reported, and the rows the store
really holds.

    python bench/insights.py --scale 0.05 --backend sqlite          # a quick look
    python bench/insights.py --scale 1 --backend both               # the full figures
    python bench/insights.py --backend postgresql --database-url postgresql+asyncpg://...

The store is built once and reused on later runs (--rebuild to build it again; a build
that stopped half way is built again); reports are timed with the clock just after the
store's newest contribution, so "the last 24 hours" and "7d" hold data however old the
store is. SQLite stores go to bench/data/ (about 1.5 GB at full scale); PostgreSQL
builds a database named chorus_bench_<scale> through the admin URL (--database-url to
use another).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from insights_data import BenchData, load_postgres, load_sqlite  # bench/insights_data.py

from handlers.engine import Engine
from handlers.enrich import Enricher
from handlers.insights.context import Reporting
from handlers.insights.grouping import role_grouping
from handlers.insights.rankings import build_consensus, build_controversial, build_top
from handlers.insights.reach import build_reach
from handlers.insights.scope import ReportScope, window_start
from handlers.insights.similar import build_similar, refresh_similar
from handlers.insights.summary import build_summary
from handlers.insights.theme_runs import build_themes, refresh_themes
from handlers.privacy import ContactCipher, Pseudonymizer
from handlers.types import Inbound
from storage.database import Store
from storage.rebuild import rebuild_idea_scores, rebuild_statements

REPO = Path(__file__).resolve().parents[1]

SECRET = "bench-secret-0123456789abcdef"
ADMIN_ID = 424242
PG_ADMIN = os.environ.get("CHORUS_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET_MS = 1000
TARGET_MB = 500
TARGETED = ("summary", "top", "consensus", "reach", "themes")


def settings(url: str):
    """config.yaml, with one admin in the team (for timing a team command)."""
    import yaml

    from bot.config import Environment, Settings, parse_settings

    path = REPO / "config.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["team"] = [{"telegram_id": ADMIN_ID, "role": "admin", "name": "bench"}]
    env = Environment.from_environ({"CHORUS_DATABASE_URL": url, "CHORUS_SECRET": SECRET})
    return Settings(file=parse_settings(raw, path), env=env, path=path)


def engine_for(store: Store, url: str, clock=None) -> Engine:
    config = settings(url).consultation
    return Engine(
        store,
        config,
        enricher=Enricher(config.consultation.languages, config.sentiment),
        pseudonyms=Pseudonymizer(SECRET),
        contacts=ContactCipher(SECRET),
        **({"clock": clock} if clock else {}),
    )


async def store_clock(store: Store):
    """A clock standing just after the store's newest contribution, so the last 24
    hours and "7d" hold the data they held when it was built, however old the store."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from storage.models import Contribution

    async with store.reader() as unit:
        newest = await unit.session.scalar(select(func.max(Contribution.created_at)))
    if newest is None:
        return None
    if newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)
    started, at = time.monotonic(), newest + timedelta(minutes=1)
    return lambda: at + timedelta(seconds=time.monotonic() - started)


def default_url(backend: str, scale: float) -> str:
    name = f"chorus_bench_{str(scale).replace('.', '_')}"
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{REPO / 'bench' / 'data' / (name + '.db')}"
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


# --- building ----------------------------------------------------------------------------


async def build(url: str, scale: float, backend: str) -> dict:
    started = time.perf_counter()
    steps: dict[str, float] = {}
    store = Store.connect(url)
    try:
        await store.upgrade()
        engine = engine_for(store, url)
        await engine.prepare()
        data = BenchData(scale=scale, question_ids=dict(engine.question_ids))
        mark = time.perf_counter()
        if backend == "sqlite":
            await store.close()
            await asyncio.to_thread(load_sqlite, url, data)
            store = Store.connect(url)
            engine = engine_for(store, url)
            await engine.prepare()
        else:
            await load_postgres(url, data)
        steps["load base tables"] = time.perf_counter() - mark
        mark = time.perf_counter()
        # With the config's role groups (a physiotherapist counts as an AHP), as the
        # bot keeps them; the engine's check at start saw an empty store and did nothing.
        grouping = role_grouping(engine.config)
        store.grouping = grouping
        async with store.transaction() as unit:
            for statement in rebuild_statements(backend, grouping):
                await unit.session.execute(statement)
        steps["rebuild aggregates"] = time.perf_counter() - mark
        mark = time.perf_counter()
        async with store.transaction() as unit:
            await rebuild_idea_scores(unit.session, backend, grouping)
        steps["idea scores"] = time.perf_counter() - mark
        await analyse(store, backend)
        await mark_stage(store, "built")
    finally:
        await store.close()
    steps["total"] = time.perf_counter() - started
    return {"build_seconds": {k: round(v, 1) for k, v in steps.items()}, **data.counts}


async def background_analyses(url: str) -> dict:
    """The themes and similar-idea jobs, once per question, as the job runner does them;
    in their own process, so their peak memory is measured apart from the reports'."""
    steps: dict[str, float] = {}
    store = Store.connect(url)
    try:
        engine = engine_for(store, url)
        await engine.prepare()
        reporting = Reporting.of(engine.deps)
        for name, refresh in (("themes job", refresh_themes), ("similar job", refresh_similar)):
            mark = time.perf_counter()
            for question_id in engine.question_ids.values():
                await refresh(reporting, question_id)
            steps[name] = time.perf_counter() - mark
        await mark_stage(store, "analysed")
    finally:
        await store.close()
    return {
        "analysis_seconds": {k: round(v, 1) for k, v in steps.items()},
        "_peak_rss_mb": peak_rss_mb(),
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


STAGE = "bench.stage"


async def mark_stage(store: Store, stage: str) -> None:
    from storage.models import Checkpoint

    async with store.transaction() as unit:
        row = await unit.session.get(Checkpoint, STAGE)
        if row is None:
            unit.session.add(Checkpoint(name=STAGE, value=stage, updated_at=datetime.now(UTC)))
        else:
            row.value, row.updated_at = stage, datetime.now(UTC)


async def analyse(store: Store, backend: str) -> None:
    """Planner statistics, as autovacuum keeps them on PostgreSQL; SQLite needs asking."""
    from sqlalchemy import text

    async with store.engine.connect() as connection:
        if backend == "postgresql":
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("VACUUM ANALYZE"))
        else:
            await connection.execute(text("ANALYZE"))
            await connection.commit()


async def stage_of(url: str) -> str:
    """How far an earlier run got with this store: "none", "built" or "analysed" (a
    build that stopped half way is "none", and is built again)."""
    from storage.models import Checkpoint

    store = Store.connect(url)
    try:
        health = await store.health()
        if not health.get("ok"):
            return "none"
        async with store.reader() as unit:
            row = await unit.session.get(Checkpoint, STAGE)
            return row.value if row is not None else "none"
    except Exception:
        return "none"
    finally:
        await store.close()


async def store_counts(store: Store) -> dict[str, int]:
    """What the store really holds (outside the timings)."""
    from sqlalchemy import func, select

    from storage.models import Contribution, Participant, Vote

    async with store.reader() as unit:
        return {
            name: await unit.session.scalar(select(func.count()).select_from(model))
            for name, model in (
                ("contributions", Contribution),
                ("votes", Vote),
                ("participants", Participant),
            )
        }


async def create_pg_database(url: str, *, drop: bool) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    connection = await asyncpg.connect(PG_ADMIN)
    try:
        if drop:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        found = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not found:
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


# --- timing ------------------------------------------------------------------------------


async def time_reports(url: str, repeats: int) -> dict:
    store = Store.connect(url)
    try:
        engine = engine_for(store, url, await store_clock(store))
        await engine.prepare()
        reporting = Reporting.of(engine.deps)
        question = engine.config.questions[0].key
        week = ReportScope(
            question_key=question, since=window_start("7d", reporting.now.date()), window="7d"
        )
        everything = ReportScope()
        cases = {
            "summary": lambda: build_summary(reporting, everything),
            "top": lambda: build_top(reporting, everything),
            "controversial": lambda: build_controversial(reporting, everything),
            "consensus": lambda: build_consensus(reporting, everything),
            "reach": lambda: build_reach(reporting, everything),
            "themes": lambda: build_themes(reporting, everything),
            "similar": lambda: build_similar(reporting, everything),
            "pending": lambda: _pending(reporting),
            "summary (question, 7d)": lambda: build_summary(reporting, week),
            "top (question, 7d)": lambda: build_top(reporting, week),
            "consensus (question, 7d)": lambda: build_consensus(reporting, week),
            "reach (question, 7d)": lambda: build_reach(reporting, week),
            "/summary via the engine": lambda: _team_command(engine, "/summary"),
        }
        results = {}
        for name, run in cases.items():
            await run()  # warm: connections, caches, plans
            timings = []
            for _ in range(repeats):
                started = time.perf_counter()
                await run()
                timings.append((time.perf_counter() - started) * 1000)
            results[name] = {
                "median_ms": round(statistics.median(timings), 1),
                "max_ms": round(max(timings), 1),
            }
        themes = await build_themes(reporting, everything)
        real_now = datetime.now(UTC)  # the analyses ran on the real clock
        results["_themes_age_minutes"] = [
            round((real_now - q["as_of"]).total_seconds() / 60, 1)
            for q in themes["questions"]
            if q.get("as_of") is not None
        ]
        results["_counts"] = await store_counts(store)
    finally:
        await store.close()
    results["_peak_rss_mb"] = peak_rss_mb()
    return results


async def _pending(reporting: Reporting):
    async with reporting.store.reader() as unit:
        return await unit.rankings.pending(reporting.store_scope(ReportScope()), 10)


_message = iter(range(10**9))


async def _team_command(engine: Engine, text: str):
    inbound = Inbound(
        channel="telegram",
        sender=str(ADMIN_ID),
        message_id=f"bench-{random.random()}-{next(_message)}",
        received_at=engine.clock(),
        text=text,
    )
    outcome = await engine.handle(inbound)
    assert outcome.replies and outcome.replies[0].key == "team:summary", outcome
    return outcome


# --- command line --------------------------------------------------------------------------


def child(args: list[str]) -> dict:
    """Run a phase in a fresh process and read its JSON result (last stdout line)."""
    result = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.stderr.write("\n".join(line[:300] for line in result.stderr.splitlines()[-40:]))
        raise SystemExit(f"bench phase {args[0]} failed")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1M/5M/200k")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--database-url", help="use this store (one backend only)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per report")
    parser.add_argument("--rebuild", action="store_true", help="build the store again")
    parser.add_argument("--phase", choices=["build", "analyse", "time"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        url = args.database_url
        backend = "sqlite" if url.startswith("sqlite") else "postgresql"
        if args.phase == "build":
            result = asyncio.run(build(url, args.scale, backend))
        elif args.phase == "analyse":
            result = asyncio.run(background_analyses(url))
        else:
            result = asyncio.run(time_reports(url, args.repeats))
        print(json.dumps(result, default=str))
        return
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if args.database_url and len(backends) > 1:
        parser.error("--database-url needs --backend sqlite or postgresql")
    rows, notes, memory = [], [], {}
    for backend in backends:
        url = args.database_url or default_url(backend, args.scale)
        stage = "none" if args.rebuild else asyncio.run(stage_of(url))
        if stage == "none":
            if backend == "sqlite":
                path = Path(url.split("///", 1)[1])
                path.parent.mkdir(parents=True, exist_ok=True)
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
            elif not args.database_url:
                asyncio.run(create_pg_database(url, drop=True))
            print(f"building the {backend} store at scale {args.scale}...", file=sys.stderr)
            built = child(["--phase", "build", "--database-url", url, "--scale", str(args.scale)])
            notes.append(f"{backend} built: {built}")
        if stage != "analysed":
            print(f"running the background analyses on {backend}...", file=sys.stderr)
            analysed = child(["--phase", "analyse", "--database-url", url])
            memory[f"{backend} background analyses"] = analysed.pop("_peak_rss_mb")
            notes.append(f"{backend} analyses: {analysed}")
        timed = child(["--phase", "time", "--database-url", url, "--repeats", str(args.repeats)])
        memory[f"{backend} reports"] = rss = timed.pop("_peak_rss_mb")
        ages = timed.pop("_themes_age_minutes")
        counts = timed.pop("_counts")
        notes.append(
            f"{backend} store holds {counts['contributions']:,} contributions, "
            f"{counts['votes']:,} votes, {counts['participants']:,} participants; "
            f"/themes answered from results {', '.join(f'{a:g}' for a in ages)} minutes old"
        )
        for report, figures in timed.items():
            rows.append((report, backend, figures["median_ms"], figures["max_ms"], rss))
    print(f"Chorus team reports, scale {args.scale} "
          f"({int(1_000_000 * args.scale):,} contributions, {int(5_000_000 * args.scale):,} votes, "
          f"{int(200_000 * args.scale):,} participants); {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {args.repeats} timed runs each")  # fmt: skip
    print(f"{'report':28} {'backend':11} {'median ms':>10} {'max ms':>10} {'peak RSS MB':>12}")
    for report, backend, median, worst, rss in rows:
        slow = targeted(report) and worst >= TARGET_MS
        flag = " *" if slow or rss >= TARGET_MB else ""
        print(f"{report:28} {backend:11} {median:>10.1f} {worst:>10.1f} {rss:>12.1f}{flag}")
    print(f"(* over {TARGET_MS} ms for a targeted report, or over {TARGET_MB} MB)")
    for process, rss in memory.items():
        flag = " *" if rss >= TARGET_MB else ""
        print(f"peak RSS, {process}: {rss:.1f} MB{flag}")
    for note in notes:
        print(note)


def targeted(report: str) -> bool:
    """/summary, /top, /consensus, /reach (and /themes' stored answer), in any scope."""
    return report.lstrip("/").split(" ")[0] in TARGETED


if __name__ == "__main__":
    main()
