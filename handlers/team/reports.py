"""The team's report commands: each reads the store (through handlers/insights) and
answers in text, with buttons where a moderator can act on what is shown. Charts and
exports are made by background jobs; the command only queues one and says so."""

from __future__ import annotations

from dataclasses import asdict

from handlers.insights.charts import CHARTS
from handlers.insights.rankings import (
    build_consensus,
    build_controversial,
    build_top,
    format_consensus,
    format_controversial,
    format_top,
)
from handlers.insights.reach import build_reach, format_reach
from handlers.insights.similar import build_similar, format_pair, format_similar_header
from handlers.insights.summary import build_summary, format_summary
from handlers.insights.text import clip, idea_name, pending_line, plural
from handlers.insights.theme_runs import (
    SHOWN,
    build_themes,
    format_question_header,
    format_theme,
    is_stale,
)
from handlers.team.context import JobOrder, TeamContext
from handlers.types import Choice, Reply

CHART_LABELS = {
    "activity": "Contributions per day",
    "sentiment": "Sentiment by role",
    "reach": "Representation",
}
EXPORT_FORMATS = ("xlsx", "csv")
PENDING_SHOWN = 10


async def summary(ctx: TeamContext) -> list[Reply]:
    scope = ctx.arguments().scope
    data = await build_summary(ctx.reporting, scope)
    return [ctx.text(format_summary(data, ctx.reporting), "summary")]


async def top(ctx: TeamContext) -> list[Reply]:
    args = ctx.arguments(takes_count=True)
    return [ctx.text(format_top(await build_top(ctx.reporting, args.scope, args.count)), "top")]


async def controversial(ctx: TeamContext) -> list[Reply]:
    args = ctx.arguments(takes_count=True)
    data = await build_controversial(ctx.reporting, args.scope, args.count)
    return [ctx.text(format_controversial(data), "controversial")]


async def consensus(ctx: TeamContext) -> list[Reply]:
    args = ctx.arguments(takes_count=True)
    data = await build_consensus(ctx.reporting, args.scope, args.count)
    return [ctx.text(format_consensus(data, ctx.reporting), "consensus")]


async def reach(ctx: TeamContext) -> list[Reply]:
    data = await build_reach(ctx.reporting, ctx.arguments().scope)
    return [ctx.text(format_reach(data, ctx.reporting), "reach")]


def theme_replies(ctx: TeamContext, data: dict, *, moderate: bool) -> list[Reply]:
    replies = []
    for question in data["questions"]:
        replies.append(ctx.text(format_question_header(question, data["now"]), "themes"))
        for theme in question.get("themes", [])[:SHOWN]:
            choices: tuple[Choice, ...] = ()
            if moderate:
                choices = (
                    Choice(f"Rename theme {theme['number']}", f"rename:{theme['number']}"),
                    *(
                        Choice(f"Move {idea_name(idea)}", f"move:{idea['id']}")
                        for idea in theme["representatives"]
                    ),
                )
            replies.append(ctx.text(format_theme(theme), "theme", choices))
        hidden = len(question.get("themes", [])) - SHOWN
        if hidden > 0:
            note = f"{plural(hidden, 'smaller theme')} not shown; /export has them all."
            replies.append(ctx.text(note, "themes_more"))
    if not data["questions"]:
        replies.append(ctx.text("No ideas to group into themes yet.", "themes"))
    return replies


async def themes(ctx: TeamContext) -> list[Reply]:
    scope = ctx.arguments().scope
    data = await build_themes(ctx.reporting, scope)
    refresh = ctx.config.insights.refresh_minutes
    stale = [q for q in data["questions"] if is_stale(q, ctx.now, refresh)]
    ids = [ctx.reporting.question_ids.get(q["question"]) for q in stale]
    if data["questions"] and all(q["as_of"] is None for q in data["questions"]):
        ctx.queue(JobOrder("themes", {"question_ids": ids, "scope": scope.as_dict()}))
        return [ctx.say("working_themes")]
    replies = theme_replies(ctx, data, moderate=ctx.can_moderate)
    if stale:
        for question_id in ids:
            ctx.queue(
                JobOrder(
                    "themes",
                    {"question_ids": [question_id]},
                    reply=False,
                    dedupe_key=f"themes:{question_id}",
                )
            )
        replies.append(ctx.say("refreshing"))
    return replies


def similar_replies(ctx: TeamContext, data: dict, *, moderate: bool) -> list[Reply]:
    replies = [ctx.text(format_similar_header(data), "similar")]
    for pair in data["pairs"]:
        choices: tuple[Choice, ...] = ()
        first, second = (idea["id"] for idea in pair["ideas"])
        if moderate:  # the labels name ideas by number, the payloads by row id
            names = {idea["id"]: idea_name(idea) for idea in pair["ideas"]}
            duplicate, into = pair["suggested"]["duplicate"], pair["suggested"]["into"]
            choices = (
                Choice(f"Merge {names[duplicate]} into {names[into]}", f"merge:{duplicate}:{into}"),
                Choice(f"Merge {names[into]} into {names[duplicate]}", f"merge:{into}:{duplicate}"),
                Choice("Not the same", f"dismiss:{first}:{second}"),
            )
        replies.append(ctx.text(format_pair(pair), "similar_pair", choices))
    return replies


async def similar(ctx: TeamContext) -> list[Reply]:
    args = ctx.arguments(takes_count=True)
    data = await build_similar(ctx.reporting, args.scope, args.count)
    keys = [args.scope.question_key] if args.scope.question_key else ctx.reporting.question_keys
    ids = [ctx.reporting.question_ids.get(key) for key in keys]
    if data["as_of"] is None:
        ctx.queue(
            JobOrder(
                "similar",
                {"question_ids": ids, "scope": args.scope.as_dict(), "count": args.count},
            )
        )
        return [ctx.say("working_similar")]
    replies = similar_replies(ctx, data, moderate=ctx.can_moderate)
    if (ctx.now - data["as_of"]).total_seconds() > ctx.config.insights.refresh_minutes * 60:
        for question_id in ids:
            ctx.queue(
                JobOrder(
                    "similar",
                    {"question_ids": [question_id]},
                    reply=False,
                    dedupe_key=f"similar:{question_id}",
                )
            )
        replies.append(ctx.say("refreshing"))
    return replies


async def pending(ctx: TeamContext) -> list[Reply]:
    args = ctx.arguments(takes_count=True)
    count = args.count or PENDING_SHOWN
    async with ctx.reporting.store.reader() as unit:
        total, items = await unit.rankings.pending(ctx.reporting.store_scope(args.scope), count)
    if not total:
        return [ctx.say("pending_none")]
    showing = f"; the oldest {len(items)} below" if total > len(items) else ""
    replies = [
        ctx.say("pending_header", count=total, covers=args.scope.describe(), showing=showing)
    ]
    for item in items:
        replies.append(
            ctx.say(
                "pending_item",
                line=pending_line(asdict(item)),
                text=clip(item.text, 600),
                choices=(
                    Choice("Approve", f"approve:{item.id}"),
                    Choice("Hide", f"hide:{item.id}"),
                    Choice("Amend", f"amend:{item.id}"),
                ),
            )
        )
    return replies


async def chart(ctx: TeamContext) -> list[Reply]:
    args = ctx.arguments(words=CHARTS)
    if not args.words:
        scope = "".join(f":{token}" for token in ctx.request.arguments)  # kept for the button
        choices = tuple(Choice(CHART_LABELS[name], f"chart:{name}{scope}") for name in CHARTS)
        return [ctx.say("which_chart", choices=choices)]
    ctx.queue(JobOrder("chart", {"name": args.words[0], "scope": args.scope.as_dict()}))
    return [ctx.say("working_chart")]


async def export(ctx: TeamContext) -> list[Reply]:
    args = ctx.arguments(words=EXPORT_FORMATS)
    fmt = args.words[0] if args.words else "xlsx"
    ctx.queue(JobOrder("export", {"format": fmt, "scope": args.scope.as_dict()}))
    return [ctx.say("working_export", format=fmt.upper())]


REPORTS = {
    "summary": summary,
    "top": top,
    "controversial": controversial,
    "consensus": consensus,
    "reach": reach,
    "themes": themes,
    "similar": similar,
    "pending": pending,
    "chart": chart,
    "export": export,
}
