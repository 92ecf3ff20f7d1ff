"""What a team command is given (`TeamContext`) and the jobs it may queue (`JobOrder`).

The desk (handlers/team/desk.py) builds one per command; actions and reports read it and
note audit entries and jobs, which the desk writes in the command's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from handlers.deps import Deps
from handlers.insights.context import Reporting
from handlers.insights.scope import Arguments, parse_arguments
from handlers.settings import ConsultationConfig
from handlers.team.commands import TeamRequest
from handlers.team.texts import team_text
from handlers.types import Attachment, Choice, Inbound, Reply
from storage.unit import Unit


@dataclass
class JobOrder:
    kind: str
    payload: dict
    reply: bool = True  # send the result back to the team member
    dedupe_key: str | None = None


@dataclass
class TeamContext:
    """What a team command is given; `unit` is the open transaction for actions."""

    deps: Deps
    request: TeamRequest
    inbound: Inbound
    now: datetime
    actor: str
    reporting: Reporting
    unit: Unit | None = None
    jobs: list[JobOrder] = field(default_factory=list)
    audits: list[tuple[str, str | None, dict]] = field(default_factory=list)

    @property
    def config(self) -> ConsultationConfig:
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
