"""What a flow step is given, and what it gives back, without any I/O.

A flow reads the message, a snapshot of the person (`participant`) and what it asks of
`reads`; it changes nothing itself. `set_state` and `update_participant` note how the
person's row must change, and `effect` notes what else to store (an idea, a vote). The
engine applies all of it after deciding, in the batch's one transaction.

`Reads` hold what was loaded for this message. Asking for something not loaded yet
raises `NeedRead`; the engine loads it and decides again from the start, so a flow stays
a plain function of what it was given.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Unpack, cast

from handlers.catalogue import Catalogue
from handlers.enrich import Enricher, Enrichment
from handlers.privacy import ContactCipher
from handlers.settings import ConsultationConfig, QuestionSettings
from handlers.types import Choice, Inbound, Reply
from storage.effects import Effect
from storage.records import (
    ContributionRecord,
    ParticipantActivity,
    ParticipantChanges,
    ParticipantRecord,
)

if TYPE_CHECKING:
    from handlers.enrichment_process import EnrichmentProcess

ReadKey = tuple[object, ...]  # the kind of read first, then what it is of


class NeedRead(Exception):
    """A flow asked for something not loaded yet; `keys` say what (several when the flow
    knows it will need them all, so that they are loaded in one round)."""

    def __init__(self, *keys: ReadKey) -> None:
        super().__init__(*keys)
        self.keys = keys


def idea_read(idea_id: int) -> ReadKey:
    return ("idea", idea_id)


def candidates_read(
    person: int, questions: list[int], exclude: tuple[int, ...], pool: int
) -> ReadKey:
    return ("candidates", person, tuple(questions), tuple(exclude), pool)


def alike_read(question_id: int | None, text: str) -> ReadKey:
    return ("alike", question_id, text)


def votes_since_read(person: int, since: datetime) -> ReadKey:
    return ("votes_since", person, since)


def contributions_since_read(person: int, kind: str, since: datetime) -> ReadKey:
    return ("contributions_since", person, kind, since)


def same_idea_read(person: int, text: str) -> ReadKey:
    return ("same_idea", person, text)


@dataclass
class Reads:
    """Loaded reads by key: ("idea", id), ("candidates", person, questions, exclude,
    pool), ("activity", person), ("enrich", text), ("alike", question id, text): the
    question's ideas like the text (handlers/likeness_cache.py); and for the limits
    (handlers/limits.py) ("votes_since", person, since), ("contributions_since", person,
    kind, since) and ("same_idea", person, text): the number of their idea so worded.
    The functions above build these keys, for a flow that asks for several at once."""

    # Each key's value has the type its accessor below names (the engine fills them).
    loaded: dict[ReadKey, object] = field(default_factory=dict)

    def get(self, key: ReadKey) -> object:
        if key not in self.loaded:
            raise NeedRead(key)
        return self.loaded[key]

    def need(self, *keys: ReadKey) -> None:
        """Ask for all of these at once: one round of loading, not one for each (each
        round decides the message again from the start)."""
        missing = [key for key in keys if key not in self.loaded]
        if missing:
            raise NeedRead(*missing)

    def idea(self, idea_id: int) -> ContributionRecord | None:
        return cast(ContributionRecord | None, self.get(idea_read(idea_id)))

    def candidates(
        self, person: int, questions: list[int], exclude: tuple[int, ...], pool: int
    ) -> tuple[ContributionRecord, ...]:
        key = candidates_read(person, questions, exclude, pool)
        return cast(tuple[ContributionRecord, ...], self.get(key))

    def idea_by_number(self, number: int) -> ContributionRecord | None:
        return cast(ContributionRecord | None, self.get(("idea_number", number)))

    def activity(self, person: int) -> ParticipantActivity:
        return cast(ParticipantActivity, self.get(("activity", person)))

    def alike(self, question_id: int | None, text: str) -> tuple[ContributionRecord, ...]:
        return cast(tuple[ContributionRecord, ...], self.get(alike_read(question_id, text)))

    def enrichment(self, text: str) -> Enrichment:
        return cast(Enrichment, self.get(("enrich", text)))

    def votes_since(self, person: int, since: datetime) -> int:
        return cast(int, self.get(votes_since_read(person, since)))

    def contributions_since(self, person: int, kind: str, since: datetime) -> int:
        return cast(int, self.get(contributions_since_read(person, kind, since)))

    def same_idea(self, person: int, text: str) -> int | None:
        return cast(int | None, self.get(same_idea_read(person, text)))


@dataclass
class Context:
    inbound: Inbound
    text: str  # the message text with control characters stripped
    participant: ParticipantRecord
    config: ConsultationConfig
    enricher: Enricher | EnrichmentProcess
    contacts: ContactCipher
    question_ids: dict[str, int]
    now: datetime
    rng: random.Random
    reads: Reads = field(default_factory=Reads)
    catalogue: Catalogue = field(default_factory=Catalogue)
    changes: ParticipantChanges = field(default_factory=lambda: ParticipantChanges())
    effects: list[Effect] = field(default_factory=list)

    def say(self, key: str, *, choices: tuple[Choice, ...] = (), **params: object) -> Reply:
        return Reply(self.catalogue.text(key, **params), choices=choices, key=key)

    def label(self, key: str) -> str:
        return self.catalogue.text(key)

    @property
    def state(self) -> dict[str, Any]:
        return self.participant.state

    @property
    def step(self) -> str:
        return self.participant.state.get("step", "")

    def set_state(self, step: str, **data: object) -> None:
        self.update_participant(state={"step": step, **data})

    def update_participant(self, **changes: Unpack[ParticipantChanges]) -> None:
        self.changes.update(changes)
        self.participant = replace(self.participant, **changes)

    def effect(self, effect: Effect) -> None:
        self.effects.append(effect)

    def enrich(self, text: str) -> Enrichment:
        """The text's enrichment, computed before deciding (see the engine)."""
        return self.reads.enrichment(text)

    def idea(self, idea_id: int) -> ContributionRecord | None:
        return self.reads.idea(idea_id)

    def idea_by_number(self, number: int) -> ContributionRecord | None:
        """The idea people know as \"idea {number}\"."""
        return self.reads.idea_by_number(number)

    def alike(self, question_id: int | None, text: str) -> tuple[ContributionRecord, ...]:
        """Up to three visible ideas of the question like `text`, most alike first."""
        return self.reads.alike(question_id, text)

    def next_for_voting(
        self, *, exclude: tuple[int, ...] = (), pool: int = 5
    ) -> ContributionRecord | None:
        """An idea this person has not voted on and did not write: one drawn at random
        among the least-voted few, so new ideas get seen first."""
        candidates = self.reads.candidates(
            self.participant.id, self.open_question_ids(), tuple(exclude), pool
        )
        return self.rng.choice(candidates) if candidates else None

    def candidates_read(self, exclude: tuple[int, ...] = (), pool: int = 5) -> ReadKey:
        """The read `next_for_voting` makes with these arguments."""
        return candidates_read(self.participant.id, self.open_question_ids(), exclude, pool)

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
