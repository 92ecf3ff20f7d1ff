"""Team reports on the command line, for operators with access to the store:
`chorus summary|top|controversial|consensus|themes|similar|reach|pending`, each with
--json for scripts and the same scope as the chat commands (--question, --window,
--since). Themes and similar ideas come from the latest stored analysis; --refresh (or
having none yet) works them out now."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from bot.cli.common import services_for, to_json
from handlers.insights.context import Reporting
from handlers.insights.scope import ReportScope, make_scope
from handlers.insights.text import pending_line

REPORTS = {
    "summary": "participants, contributions, votes; by channel, role, region, age band; "
    "sentiment; the last 24 hours; top ideas",
    "top": "ideas ranked by the Wilson lower bound of their agree share",
    "controversial": "ideas with many votes split close to evenly",
    "consensus": "ideas every role group agrees with",
    "themes": "ideas grouped into themes (from the latest analysis)",
    "similar": "near-duplicate ideas a moderator could merge",
    "reach": "who is taking part, against the representation targets",
    "pending": "the moderation queue",
}
COUNTED = ("top", "controversial", "consensus", "similar", "pending")


def add_scope_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--question", metavar="KEY", help="only this question (its key)")
    parser.add_argument("--window", metavar="7d|2w", help="the last N days or weeks (UTC)")
    parser.add_argument("--since", metavar="YYYY-MM-DD", help="from this day on (UTC)")


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    for name, description in REPORTS.items():
        parser = commands.add_parser(name, parents=[common], help=description)
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")
        add_scope_arguments(parser)
        if name in COUNTED:
            parser.add_argument("count", nargs="?", type=int, metavar="N", help="how many")
        if name == "summary":
            parser.add_argument(
                "--top", type=int, default=3, metavar="N", help="how many top ideas (3)"
            )
        if name in ("themes", "similar"):
            parser.add_argument(
                "--refresh", action="store_true", help="work them out again now first"
            )
        parser.set_defaults(handler=run_report, report=name)


@asynccontextmanager
async def reporting_for(args: argparse.Namespace) -> AsyncIterator[Reporting]:
    async with services_for(args.config, warm_up=False) as services:
        yield Reporting.of(services.deps)


def scope_of(args: argparse.Namespace, reporting: Reporting) -> ReportScope:
    return make_scope(
        question=args.question,
        window=args.window,
        since=args.since,
        questions=reporting.question_keys,
        today=reporting.now.date(),
    )


async def _report(args: argparse.Namespace) -> tuple[object, Callable[[], str]]:
    from handlers.insights import rankings, reach, summary

    async with reporting_for(args) as reporting:
        scope = scope_of(args, reporting)
        name = args.report
        if name == "summary":
            data = await summary.build_summary(reporting, scope, top=args.top)
            return data, lambda: summary.format_summary(data, reporting)
        if name in ("top", "controversial", "consensus"):
            build: Callable[..., Awaitable[dict]] = getattr(rankings, f"build_{name}")
            data = await build(reporting, scope, args.count)
            formatter = getattr(rankings, f"format_{name}")
            if name == "consensus":
                return data, lambda: formatter(data, reporting)
            return data, lambda: formatter(data)
        if name == "reach":
            data = await reach.build_reach(reporting, scope)
            return data, lambda: reach.format_reach(data, reporting)
        if name == "pending":
            return await _pending(reporting, scope, args.count)
        return await _analysis(reporting, scope, args)


async def _pending(
    reporting: Reporting, scope: ReportScope, count: int | None
) -> tuple[dict[str, Any], Callable[[], str]]:
    async with reporting.store.reader() as unit:
        total, items = await unit.rankings.pending(reporting.store_scope(scope), count or 20)
    data: dict[str, Any] = {
        "scope": scope.as_dict(),
        "pending": total,
        "items": [
            {
                "id": item.id,
                "kind": item.kind,
                "reason": item.reason,
                "channel": item.channel,
                "question": item.question_key,
                "number": item.number,
                "parent_id": item.parent_id,
                "parent_number": item.parent_number,
                "created_at": item.created_at,
                "text": item.text,
            }
            for item in items
        ],
    }

    def text() -> str:
        if not total:
            return f"Nothing is waiting for moderation ({scope.describe()})."
        lines = [f"{total} waiting for moderation ({scope.describe()})."]
        for item in data["items"]:
            lines.append(f"{pending_line(item)}: {item['text']}")
        return "\n".join(lines)

    return data, text


async def _analysis(
    reporting: Reporting, scope: ReportScope, args: argparse.Namespace
) -> tuple[object, Callable[[], str]]:
    from handlers.insights import similar, theme_runs

    keys = [scope.question_key] if scope.question_key else reporting.question_keys
    if args.report == "themes":
        data = await theme_runs.build_themes(reporting, scope)
        missing = any(q["as_of"] is None for q in data["questions"])
        if args.refresh or missing:
            print("working out themes now...", file=sys.stderr)
            for key in keys:
                await theme_runs.refresh_themes(reporting, reporting.question_ids.get(key))
            data = await theme_runs.build_themes(reporting, scope)
        return data, lambda: theme_runs.format_themes(data)
    data = await similar.build_similar(reporting, scope, args.count)
    if args.refresh or data["as_of"] is None:
        print("looking for similar ideas now...", file=sys.stderr)
        for key in keys:
            await similar.refresh_similar(reporting, reporting.question_ids.get(key))
        data = await similar.build_similar(reporting, scope, args.count)
    return data, lambda: similar.format_similar(data)


def run_report(args: argparse.Namespace) -> int:
    data, text = asyncio.run(_report(args))
    print(to_json(data) if args.json else text())
    return 0
