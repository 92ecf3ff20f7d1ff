"""What background jobs do, channel-agnostic: each kind takes its stored payload and
returns the replies to send to whoever asked (bot/jobs.py claims, runs and delivers).

- themes / similar: re-cluster or look for near-duplicates, then (when someone asked)
  answer as /themes or /similar would;
- chart: draw a PNG (matplotlib, in a worker thread);
- export: build the CSV or XLSX documents, and write the audit entry.

`schedule_refreshes` queues silent re-analysis when ideas have arrived since the last.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING

from handlers.insights.charts import CHARTS, chart_data
from handlers.insights.context import Reporting
from handlers.insights.exports import VOTE_CODING, export_documents
from handlers.insights.scope import ReportScope
from handlers.insights.similar import KIND as SIMILAR
from handlers.insights.similar import build_similar, refresh_similar
from handlers.insights.theme_runs import KIND as THEMES
from handlers.insights.theme_runs import build_themes, refresh_themes
from handlers.team.commands import TeamRequest
from handlers.team.context import TeamContext
from handlers.team.reports import similar_replies, theme_replies
from handlers.team.texts import team_text
from handlers.types import Attachment, Inbound, Reply
from storage.insights import Scope
from storage.jobs import JobRecord

if TYPE_CHECKING:
    from handlers.deps import Deps

JOB_KINDS = ("themes", "similar", "chart", "export")
# A chat carries documents of up to 50 MB (Telegram's limit for bots); an export of more
# contributions than this is refused before it is built, so the bot's process never
# holds a file it cannot send.
CHAT_EXPORT_ROWS = 200_000
CHAT_DOCUMENT_BYTES = 50 * 1024 * 1024
WHAT = {"themes": "themes", "similar": "list of similar ideas", "chart": "chart",
        "export": "export"}  # fmt: skip


def _question_ids(deps: Deps, payload: dict) -> list[int | None]:
    ids = payload.get("question_ids")
    return list(ids) if ids else list(deps.question_ids.values())


def _context(deps: Deps, job: JobRecord, now: datetime) -> TeamContext:
    """A context to build team replies outside a message (moderator buttons or not)."""
    from handlers.settings import TeamMember

    member = TeamMember(telegram_id=0, role=job.payload.get("role", "viewer"))
    request = TeamRequest(member, job.kind, (), "", pressed=False)
    inbound = Inbound(channel="job", sender="0", message_id=f"job-{job.id}", received_at=now)
    return TeamContext(
        deps=deps,
        request=request,
        inbound=inbound,
        now=now,
        actor=job.requested_by,
        reporting=Reporting.of(deps, now),
    )


async def run_job(deps: Deps, job: JobRecord, now: datetime) -> list[Reply]:
    """Do one job; returns what to send back (nothing when no one is waiting)."""
    ctx = _context(deps, job, now)
    payload = job.payload
    scope = ReportScope.from_dict(payload.get("scope") or {})
    reporting = ctx.reporting
    if job.kind == THEMES:
        for question_id in _question_ids(deps, payload):
            await refresh_themes(reporting, question_id)
        if job.reply_channel is None:
            return []
        data = await build_themes(Reporting.of(deps, deps.clock()), scope)
        return theme_replies(ctx, data, moderate=ctx.can_moderate)
    if job.kind == SIMILAR:
        for question_id in _question_ids(deps, payload):
            await refresh_similar(reporting, question_id)
        if job.reply_channel is None:
            return []
        data = await build_similar(Reporting.of(deps, deps.clock()), scope, payload.get("count"))
        return similar_replies(ctx, data, moderate=ctx.can_moderate)
    if job.kind == "chart":
        name = payload.get("name")
        if name not in CHARTS:
            raise ValueError(f"unknown chart {name!r}")
        caption, draw, arguments = await chart_data(reporting, name, scope)
        png = await asyncio.to_thread(draw, *arguments)
        caption = caption.replace("\n", ": ")
        attachment = Attachment(f"chorus-{name}.png", png, "image/png", caption)
        return [Reply(caption, attachment=attachment, key="team:chart")]
    if job.kind == "export":
        return await _export(deps, job, scope, reporting)
    raise ValueError(f"unknown job kind {job.kind!r}")


def _too_big(size: str, limit: str) -> list[Reply]:
    return [Reply(team_text("export_too_big", size=size, limit=limit), key="team:export_too_big")]


async def _export(
    deps: Deps, job: JobRecord, scope: ReportScope, reporting: Reporting
) -> list[Reply]:
    fmt = job.payload.get("format", "xlsx")
    async with deps.store.reader() as unit:
        activity = await unit.insights.activity(reporting.store_scope(scope))
    contributions = sum(n for kind, dimension, _v, n in activity
                        if kind != "vote" and dimension == "channel")  # fmt: skip
    if contributions > CHAT_EXPORT_ROWS:
        return _too_big(f"{contributions:,} contributions", f"at most {CHAT_EXPORT_ROWS:,}")
    stamp = f"{reporting.now:%Y%m%d-%H%M}"
    documents = await export_documents(
        deps.store,
        fmt,
        reporting.store_scope(scope),
        title=f"{deps.config.consultation.name}: export",
        scope_text=scope.describe(),
        now=reporting.now,
        name=lambda suffix: (
            f"chorus-{stamp}-{suffix}" if "." in suffix else f"chorus-{stamp}.{suffix}"
        ),
    )
    size = sum(len(content) for _name, content, _mime, _rows in documents)
    if size > CHAT_DOCUMENT_BYTES:
        return _too_big(f"{size / 2**20:.0f} MB", f"{CHAT_DOCUMENT_BYTES // 2**20} MB")
    async with deps.store.transaction() as unit:
        await unit.audit.add(
            job.requested_by,
            "export",
            reporting.now,
            target=fmt,
            detail={
                "scope": scope.as_dict(),
                "files": [name for name, _content, _mime, _rows in documents],
                "rows": sum(sum(rows.values()) for _name, _content, _mime, rows in documents),
                "requested_at": job.created_at.isoformat(),
                "by": {"name": job.payload.get("by_name"), "role": job.payload.get("role")},
            },
        )
    replies = []
    for filename, content, mime, rows in documents:
        caption = team_text(
            "export_ready",
            filename=filename,
            rows=", ".join(f"{table} {count}" for table, count in rows.items()),
            covers=scope.describe(),
            coding=VOTE_CODING,
        )
        replies.append(
            Reply(
                caption,
                attachment=Attachment(filename, content, mime, caption),
                key="team:export_ready",
            )
        )
    return replies


def failure_reply(job: JobRecord, error: BaseException, *, delivered: bool = False) -> Reply:
    """What to tell whoever asked when a job failed (`delivered`: it was done, but its
    result could not be sent, e.g. a file the chat refused)."""
    message = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
    key = "job_undelivered" if delivered else "job_failed"
    return Reply(
        team_text(key, what=WHAT.get(job.kind, job.kind), error=message), key=f"team:{key}"
    )


async def schedule_refreshes(deps: Deps, now: datetime) -> int:
    """Queue re-analysis for questions whose stored themes or similar pairs are older than
    `insights.refresh_minutes` and have newer ideas (or none yet). Returns jobs queued."""
    minutes = deps.config.insights.refresh_minutes
    queued = 0
    async with deps.store.transaction() as unit:
        for question_id in await unit.themes.questions_with_ideas():
            for kind in (THEMES, SIMILAR):
                run = await unit.themes.current_run(kind, question_id)
                newest = run.newest_item_id if run else 0
                if run and (now - run.finished_at).total_seconds() < minutes * 60:
                    continue
                if not await unit.rankings.ideas_since(Scope(question_id=question_id), newest):
                    continue
                job = await unit.jobs.enqueue(
                    kind,
                    {"question_ids": [question_id]},
                    now,
                    requested_by="schedule",
                    dedupe_key=f"{kind}:{question_id}",
                )
                queued += job is not None
    return queued
