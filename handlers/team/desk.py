"""The team desk: runs a team member's command and returns the replies.

Called by the engine before the participant conversation, for team members only; it
never creates a participant row. Every message id is still claimed once, so a replayed
command changes nothing. Reports are read first, in a read-only transaction (so a
report never holds SQLite's write lock), and the message is claimed after; actions run
inside one transaction with the claim, their audit entry and any job they queue.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from handlers.deps import Deps
from handlers.insights.context import Reporting
from handlers.insights.scope import ScopeError
from handlers.team.actions import ACTIONS
from handlers.team.commands import TeamRequest, recognise
from handlers.team.context import JobOrder, TeamContext
from handlers.team.reports import REPORTS
from handlers.types import Inbound, Outcome, Reply
from storage.unit import Unit

__all__ = ["JobOrder", "TeamContext", "TeamDesk"]

log = logging.getLogger(__name__)


Handler = Callable[[TeamContext], Awaitable[list[Reply]]]


class TeamDesk:
    """Team commands, given the dependencies. `on_job_queued` callbacks wake the job runner."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.on_job_queued: list[Callable[[], None]] = []

    def recognise(self, inbound: Inbound, text: str) -> TeamRequest | None:
        return recognise(self.deps.config, inbound, text)

    def actor(self, request: TeamRequest) -> str:
        """Who did it, for the audit log: a pseudonym of the team member, not their id."""
        token = self.deps.pseudonym("team", str(request.member.telegram_id))
        return f"team:{token[:16]}"

    async def handle(self, request: TeamRequest, inbound: Inbound, now: datetime) -> Outcome:
        ctx = TeamContext(
            deps=self.deps,
            request=request,
            inbound=inbound,
            now=now,
            actor=self.actor(request),
            reporting=Reporting.of(self.deps, now),
        )
        handler = REPORTS.get(request.word) or ACTIONS[request.word]
        is_report = request.word in REPORTS and request.allowed()
        replies: list[Reply] = []
        if is_report:
            replies = await self._run(ctx, handler)
        async with self.deps.store.transaction() as unit:
            if not await unit.processed.claim(inbound.channel, inbound.message_id, now):
                return Outcome(duplicate=True)
            if not request.allowed():
                replies = [ctx.say("not_allowed", needed=request.needed, role=request.member.role)]
            elif not is_report:
                ctx.unit = unit
                replies = await self._run(ctx, handler)
            await self._settle(ctx, unit)
        if ctx.jobs:
            for wake in self.on_job_queued:
                wake()
        return Outcome(tuple(replies))

    async def _run(self, ctx: TeamContext, handler: Handler) -> list[Reply]:
        try:
            return await handler(ctx)
        except ScopeError as problem:
            return [ctx.say("bad_arguments", problem=str(problem).rstrip("."))]

    async def _settle(self, ctx: TeamContext, unit: Unit) -> None:
        member = ctx.request.member
        for action, target, detail in ctx.audits:
            await unit.audit.add(
                ctx.actor,
                action,
                ctx.now,
                target=target,
                detail={**detail, "by": {"name": member.name, "role": member.role}},
            )
        for order in ctx.jobs:
            address = None
            if order.reply:
                address = self.deps.contacts.encrypt(ctx.inbound.sender)
            await unit.jobs.enqueue(
                order.kind,
                {**order.payload, "role": member.role, "by_name": member.name},
                ctx.now,
                requested_by=ctx.actor,
                reply_channel=ctx.inbound.channel if order.reply else None,
                reply_address_encrypted=address,
                dedupe_key=order.dedupe_key,
            )
