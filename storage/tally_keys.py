"""What a contribution or a vote counts towards: its facts (the row as the aggregates see
it) and the keys of the aggregate rows it adds one to. storage/tallies.py applies the
difference between the keys before and after a change; storage/rebuild.py computes the
same keys in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from storage.grouping import Grouping
from storage.models import Contribution, Vote

NOT_GIVEN = ""  # stands for a missing role, region, language... inside keys
NO_QUESTION = 0  # activity_counts: the contribution answers no question
ANY_QUESTION = 0  # participation: the person's actions across all questions

CONTRIBUTION_DIMENSIONS = (
    "channel",
    "label",
    "language",
    "status",
    "role",
    "region",
    "age_band",
    "role_label",
    "confident_label",
)
VOTE_DIMENSIONS = ("channel", "value", "role", "region", "age_band")
VALUE_COLUMN = {1: "agree", -1: "disagree", 0: "skip"}

PAIRED_WITH_CHANNEL = ("role_group", "region", "age_band")

# A sentiment label counts as confident from this calibrated probability: such labels
# agree with people's about 7 times in 10 or more (README, Sentiment). `confident_label`
# holds the label then, UNSURE below it, NOT_GIVEN where the analyser gives no confidence.
CONFIDENT_AT = 0.7
UNSURE = "unsure"

ActivityKey = tuple[date, int, str, str, str]
PersonKey = tuple[int, str, str, int]  # question (0: any), dimension, value, participant


def confident_label(label: str, confidence: float | None) -> str:
    """The `confident_label` value of a contribution (see CONFIDENT_AT)."""
    if confidence is None:
        return NOT_GIVEN
    return label if confidence >= CONFIDENT_AT else UNSURE


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def hour_of(moment: datetime) -> int:
    return int(moment.timestamp() // 3600)


@dataclass(frozen=True)
class ContributionFacts:
    """What the aggregates need to know about one contribution."""

    participant_id: int
    day: date
    question_id: int | None
    kind: str
    channel: str
    label: str
    language: str | None
    status: str
    role: str | None
    region: str | None
    age_band: str | None
    confidence: float | None = None  # the sentiment label's calibrated probability

    @classmethod
    def of(cls, row: Contribution) -> ContributionFacts:
        return cls(
            participant_id=row.participant_id,
            day=day_of(row.created_at),
            question_id=row.question_id,
            kind=row.kind,
            channel=row.channel,
            label=row.label,
            language=row.language,
            status=row.status,
            role=row.role,
            region=row.region,
            age_band=row.age_band,
            confidence=row.sentiment_confidence,
        )

    def activity_keys(self) -> list[ActivityKey]:
        values = {
            "channel": self.channel,
            "label": self.label,
            "language": self.language,
            "status": self.status,
            "role": self.role,
            "region": self.region,
            "age_band": self.age_band,
            "role_label": f"{self.role or NOT_GIVEN}|{self.label}",
            "confident_label": confident_label(self.label, self.confidence),
        }
        question = self.question_id or NO_QUESTION
        return [
            (self.day, question, self.kind, dimension, values[dimension] or NOT_GIVEN)
            for dimension in CONTRIBUTION_DIMENSIONS
        ]

    def person_keys(self, grouping: Grouping) -> list[PersonKey]:
        return person_keys(
            self.participant_id,
            self.question_id,
            self.channel,
            self.role,
            self.region,
            self.age_band,
            grouping,
        )


@dataclass(frozen=True)
class VoteFacts:
    """What the aggregates need to know about one vote (and the idea's question)."""

    participant_id: int
    contribution_id: int
    question_id: int | None
    day: date
    hour: int  # hours since 1970 (UTC)
    value: int
    channel: str
    role: str | None
    region: str | None
    age_band: str | None

    @classmethod
    def of(cls, row: Vote, question_id: int | None) -> VoteFacts:
        return cls(
            participant_id=row.participant_id,
            contribution_id=row.contribution_id,
            question_id=question_id,
            day=day_of(row.created_at),
            hour=hour_of(row.created_at),
            value=row.value,
            channel=row.channel,
            role=row.role,
            region=row.region,
            age_band=row.age_band,
        )

    def activity_keys(self) -> list[ActivityKey]:
        values = {
            "channel": self.channel,
            "value": str(self.value),
            "role": self.role,
            "region": self.region,
            "age_band": self.age_band,
        }
        question = self.question_id or NO_QUESTION
        return [
            (self.day, question, "vote", dimension, values[dimension] or NOT_GIVEN)
            for dimension in VOTE_DIMENSIONS
        ]

    def person_keys(self, grouping: Grouping) -> list[PersonKey]:
        return person_keys(
            self.participant_id,
            self.question_id,
            self.channel,
            self.role,
            self.region,
            self.age_band,
            grouping,
        )


def person_values(
    channel: str, role: str | None, region: str | None, age_band: str | None, grouping: Grouping
) -> dict[str, str]:
    """dimension -> value of one person's answers as they were, for `participation`."""
    values = {
        "person": NOT_GIVEN,
        "channel": channel,
        "role": role or NOT_GIVEN,
        "role_group": grouping.group(role),
        "region": region or NOT_GIVEN,
        "age_band": age_band or NOT_GIVEN,
    }
    for dimension in PAIRED_WITH_CHANNEL:
        values[f"{dimension}+channel"] = f"{values[dimension]}|{channel}"
    return values


def person_keys(
    participant_id: int,
    question_id: int | None,
    channel: str,
    role: str | None,
    region: str | None,
    age_band: str | None,
    grouping: Grouping,
) -> list[PersonKey]:
    values = person_values(channel, role, region, age_band, grouping)
    scopes = sorted({ANY_QUESTION, question_id or ANY_QUESTION})
    return [
        (scope, dimension, value, participant_id)
        for scope in scopes
        for dimension, value in values.items()
    ]
