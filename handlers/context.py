"""What a flow step is given: the message, the person, the open transaction and the
consultation's settings. Flows read and write through `unit` and return replies."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

from handlers.catalogue import Catalogue
from handlers.enrich import Enricher
from handlers.privacy import ContactCipher
from handlers.settings import ConsultationConfig, QuestionSettings
from handlers.types import Choice, Inbound, Reply
from storage.records import ParticipantRecord
from storage.unit import Unit


@dataclass
class Context:
    inbound: Inbound
    text: str  # the message text with control characters stripped
    participant: ParticipantRecord
    unit: Unit
    config: ConsultationConfig
    enricher: Enricher
    contacts: ContactCipher
    question_ids: dict[str, int]
    now: datetime
    rng: random.Random
    catalogue: Catalogue = field(default_factory=Catalogue)

    def say(self, key: str, *, choices: tuple[Choice, ...] = (), **params: object) -> Reply:
        return Reply(self.catalogue.text(key, **params), choices=choices, key=key)

    def label(self, key: str) -> str:
        return self.catalogue.text(key)

    @property
    def state(self) -> dict:
        return self.participant.state

    @property
    def step(self) -> str:
        return self.participant.state.get("step", "")

    async def set_state(self, step: str, **data: object) -> None:
        state = {"step": step, **data}
        await self.unit.participants.update(self.participant.id, state=state)
        self.participant = _with(self.participant, state=state)

    async def update_participant(self, **changes: object) -> None:
        await self.unit.participants.update(self.participant.id, **changes)
        self.participant = _with(self.participant, **changes)

    def open_questions(self) -> list[QuestionSettings]:
        return self.config.open_questions(self.now)

    def open_question_ids(self) -> list[int]:
        return [
            self.question_ids[q.key] for q in self.open_questions() if q.key in self.question_ids
        ]

    def question_by_id(self, question_id: int | None) -> QuestionSettings | None:
        for key, id_ in self.question_ids.items():
            if id_ == question_id:
                return next((q for q in self.config.questions if q.key == key), None)
        return None


def _with(record: ParticipantRecord, **changes: object) -> ParticipantRecord:
    from dataclasses import replace

    return replace(record, **changes)
