"""What a conversation step decided to change, as plain frozen values.

A flow returns a list of these instead of writing; `storage/batch.py` applies the effects
of a whole batch of messages in one transaction. None of them names the participant: the
applier knows whose message it is applying (and creates the person first when needed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from storage.records import NewContribution, ParticipantChanges, Profile

# Stands in a reply's text for the number a new contribution will get when it is
# stored; the engine puts the real number in after the batch commits.
NEW_NUMBER = "\u2063#new\u2063"


@dataclass(frozen=True)
class AddContribution:
    """Store an idea or comment (already enriched). Its participant_id is ignored."""

    new: NewContribution


@dataclass(frozen=True)
class CastVote:
    """Cast or change a vote on an idea of `question_id` (as the decision read it: an
    idea never moves to another question, so the applier need not read it again)."""

    idea_id: int
    value: int
    channel: str
    profile: Profile
    now: datetime
    question_id: int | None


@dataclass(frozen=True)
class SaveContact:
    """Keep the (encrypted) address a person gave for news."""

    channel: str
    address_encrypted: bytes
    now: datetime


@dataclass(frozen=True)
class DropContact:
    """Delete the person's follow-up address (carrier STOP)."""


@dataclass(frozen=True)
class CancelOutbox:
    """Drop the person's queued follow-up messages."""


@dataclass(frozen=True)
class Erase:
    """FORGET: the person and everything they contributed, and their kept failed
    messages (those sent from `channel` by `sender`, read with the contact key)."""

    channel: str
    sender: str


Effect = AddContribution | CastVote | SaveContact | DropContact | CancelOutbox | Erase


@dataclass(frozen=True)
class Decision:
    """What one message comes to: replies, effects, and how the person's row changes.

    `claim` is False for a message that leaves no trace (an empty text, a message
    ignored after opting out): its id is not recorded and no person is created.
    `person` holds the participant's changed columns (empty: the row is not written).
    `create` is False for a stranger who has neither agreed nor refused: the id is
    recorded (a resent copy is not answered twice) but no participant row is created.
    """

    replies: tuple = ()
    effects: tuple[Effect, ...] = ()
    person: ParticipantChanges = field(default_factory=lambda: ParticipantChanges())
    claim: bool = True
    opted_out: bool = False
    create_language: str | None = None  # the language of a person created by this message
    create: bool = True
