"""What every report is given: the store, the consultation's settings, the questions'
ids, the public channels (declared with the public medium) and the time it is asked at.
Built from the dependencies (handlers.deps.Deps) by team commands and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from handlers.deps import Deps
from handlers.insights.grouping import option_label, role_grouping
from handlers.insights.scope import ReportScope
from handlers.settings import ConsultationConfig
from storage.database import Store
from storage.grouping import Grouping
from storage.insights import Scope


@dataclass(frozen=True)
class Reporting:
    store: Store
    config: ConsultationConfig
    question_ids: Mapping[str, int]
    now: datetime
    public_channels: tuple[str, ...] = ()

    @classmethod
    def of(cls, deps: Deps, now: datetime | None = None) -> Reporting:
        """From prepared dependencies, asked now or at `now`."""
        return cls(
            deps.store,
            deps.config,
            dict(deps.question_ids),
            now or deps.clock(),
            deps.public_channels,
        )

    @property
    def grouping(self) -> Grouping:
        return role_grouping(self.config)

    @property
    def question_keys(self) -> list[str]:
        return [q.key for q in self.config.questions]

    def store_scope(self, scope: ReportScope) -> Scope:
        return scope.for_store(self.question_ids)

    def question_key(self, question_id: int | None) -> str | None:
        return next((key for key, id_ in self.question_ids.items() if id_ == question_id), None)

    def label(self, question_key: str, option_key: str) -> str:
        return option_label(self.config, question_key, option_key)
