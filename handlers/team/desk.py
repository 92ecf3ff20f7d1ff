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
from dataclasses import dataclass, field
from datetime import datetime

from handlers.insights.context import Reporting
from handlers.insights.scope import Arguments, ScopeError, parse_arguments
from handlers.team.commands import TeamRequest, recognise
from handlers.team.texts import team_text
from handlers.types import Attachment, Choice, Inbound, Outcome, Reply
from storage.unit import Unit

log = logging.getLogger(__name__)


@dataclass
class JobOrder:
    kind: str
    payload: dict
    reply: bool = True  # send the result back to the team member
    dedupe_key: str | None = None


@dataclass
class TeamContext:
    """What a team command is given; `unit` is the open transaction for actions."""

    engine: object  # handlers.engine.Engine (not imported: it imports this module)
    request: TeamRequest
    inbound: Inbound
    now: datetime
    actor: str
    reporting: Reporting
    unit: Unit | None = None
    jobs: list[JobOrder] = field(default_factory=list)
    audits: list[tuple[str, str | None, dict]] = field(default_factory=list)

    @property
    def config(self):
        return self.reporting.config

    def say(
        self,
        key: str,
        *,
        choices: tuple[Choice, ...] = (),
        attachment: Attachment | None = None,
        **params: object,
    ) -> Reply:
        return Reply(
            team_text(key, **params), choices=choices, attachment=attachment, key=f"team:{key}"
        )

    def text(self, body: str, key: str, choices: tuple[Choice, ...] = ()) -> Reply:
        return Reply(body, choices=choices, key=f"team:{key}")

    def arguments(self, *, words: tuple[str, ...] = (), takes_count: bool = False) -> Arguments:
        return parse_arguments(
            self.request.arguments,
            questions=self.reporting.question_keys,
            today=self.now.date(),
            words=words,
            takes_count=takes_count,
        )

    def audit(self, action: str, target: str | None, detail: dict) -> None:
        self.audits.append((action, target, detail))

    def queue(self, order: JobOrder) -> None:
        self.jobs.append(order)

    @property
    def can_moderate(self) -> bool:
        return self.request.member.role in ("moderator", "admin")


Handler = Callable[[TeamContext], Awaitable[list[Reply]]]


class TeamDesk:
    """Team commands for one engine. `on_job_queued` callbacks wake the job runner."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.on_job_queued: list[Callable[[], None]] = []

    def recognise(self, inbound: Inbound, text: str) -> TeamRequest | None:
        return recognise(self.engine.config, inbound, text)

    def actor(self, request: TeamRequest) -> str:
        """Who did it, for the audit log: a pseudonym of the team member, not their id."""
        token = self.engine.pseudonym("team", str(request.member.telegram_id))
        return f"team:{token[:16]}"

    async def handle(self, request: TeamRequest, inbound: Inbound, now: datetime) -> Outcome:
        from handlers.team.actions import ACTIONS
        from handlers.team.reports import REPORTS

        ctx = TeamContext(
            engine=self.engine,
            request=request,
            inbound=inbound,
            now=now,
            actor=self.actor(request),
            reporting=Reporting.of(self.engine, now),
        )
        handler = REPORTS.get(request.word) or ACTIONS[request.word]
        is_report = request.word in REPORTS and request.allowed()
        replies: list[Reply] = []
        if is_report:
            replies = await self._run(ctx, handler)
        async with self.engine.store.transaction() as unit:
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
                address = self.engine.contacts.encrypt(ctx.inbound.sender)
            await unit.jobs.enqueue(
                order.kind,
                {**order.payload, "role": member.role, "by_name": member.name},
                ctx.now,
                requested_by=ctx.actor,
                reply_channel=ctx.inbound.channel if order.reply else None,
                reply_address_encrypted=address,
                dedupe_key=order.dedupe_key,
            )
