"""The consultation's own settings (questions, gateway, targets, sentiment, team).

These are the parts of config.yaml the conversation needs. They are pydantic models so a
bad file is reported by key; `bot.config` adds the deployment parts and does the loading.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TeamRole = Literal["viewer", "moderator", "admin"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuestionSettings(Strict):
    key: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    text: str = Field(min_length=5)
    opens: date
    closes: date

    @model_validator(mode="after")
    def _dates_in_order(self) -> QuestionSettings:
        if self.closes < self.opens:
            raise ValueError(f"closes ({self.closes}) is before opens ({self.opens})")
        return self

    @property
    def opens_at(self) -> datetime:
        return datetime.combine(self.opens, time.min, tzinfo=UTC)

    @property
    def closes_at(self) -> datetime:
        """The end of the closing day: a question closing on 31 March is open all that day."""
        return datetime.combine(self.closes, time.max, tzinfo=UTC)

    def is_open(self, now: datetime) -> bool:
        return self.opens_at <= now <= self.closes_at


class GatewayOption(Strict):
    key: str = Field(min_length=1, max_length=64)
    label: str = Field(min_length=1)
    short: str | None = None
    prompt: str | None = None  # the narrower question asked when this has options
    options: tuple[GatewayOption, ...] = ()

    @property
    def compact(self) -> str:
        return self.short or self.label


class GatewayQuestion(Strict):
    key: str = Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")
    prompt: str = Field(min_length=3)
    options: tuple[GatewayOption, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _unique_keys(self) -> GatewayQuestion:
        keys = [leaf.key for leaf in self.all_options()]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"option keys must be unique, repeated: {', '.join(dupes)}")
        return self

    def all_options(self) -> list[GatewayOption]:
        found: list[GatewayOption] = []
        for option in self.options:
            found.append(option)
            found.extend(option.options)
        return found

    def find(self, key: str) -> GatewayOption | None:
        return next((o for o in self.all_options() if o.key == key), None)

    def group_of(self, key: str) -> str:
        """The top-level option a chosen key belongs to (itself when top-level)."""
        for option in self.options:
            if option.key == key or any(sub.key == key for sub in option.options):
                return option.key
        return key


class SentimentSettings(Strict):
    analyser: Literal["chorus", "vader", "textblob"] = "chorus"
    positive_threshold: float = Field(default=0.05, gt=0, le=1)
    negative_threshold: float = Field(default=-0.05, ge=-1, lt=0)


class ConsultationSettings(Strict):
    name: str = Field(min_length=1)
    hashtags: tuple[str, ...] = ()
    languages: tuple[str, ...] = ("en",)
    max_text_length: int = Field(default=2000, ge=50, le=100_000)
    # Before a new idea is stored, offer up to three alike ideas to vote for instead.
    offer_alike: bool = True
    privacy_notice: str = Field(min_length=10)
    # Read out on phone calls; the built-in one (catalogue "call_privacy") when unset.
    spoken_privacy_notice: str | None = Field(default=None, min_length=10)

    @field_validator("hashtags")
    @classmethod
    def _hashtags_start_with_hash(cls, tags: tuple[str, ...]) -> tuple[str, ...]:
        for tag in tags:
            if not tag.startswith("#") or len(tag) < 2 or " " in tag:
                raise ValueError(f"{tag!r} is not a hashtag like #AHPsIntoAction")
        return tags

    @field_validator("languages")
    @classmethod
    def _languages_known(cls, languages: tuple[str, ...]) -> tuple[str, ...]:
        if not languages:
            raise ValueError("list at least one language, e.g. [en]")
        from handlers.enrich.language import to_language

        for code in languages:
            if len(code) != 2 or not code.isalpha() or not code.islower():
                raise ValueError(f"{code!r} is not a two-letter ISO 639-1 code such as en")
            to_language(code)  # ValueError naming the code when it cannot be detected
        if len(set(languages)) != len(languages):
            raise ValueError("each language must appear once")
        return languages


class InsightsSettings(Strict):
    """How the team's reports judge ideas and how often background analysis runs."""

    consensus_min_votes: int = Field(default=5, ge=1)  # from one role group, to count it
    consensus_min_groups: int = Field(default=2, ge=1)  # groups that must have voted enough
    controversial_min_votes: int = Field(default=10, ge=2)  # agree + disagree, to be listed
    similar_threshold: float = Field(default=0.56, gt=0, lt=1)  # cosine, near-duplicate ideas
    refresh_minutes: float = Field(default=30, gt=0)  # re-cluster themes this often at most


class TeamMember(Strict):
    telegram_id: int
    role: TeamRole
    name: str | None = None

    # The channel whose ids `telegram_id` holds: team commands are recognised only from
    # it, so that an id on another channel (a phone number) can never pass for one.
    id_channel: ClassVar[str] = "telegram"

    def is_sender(self, channel: str, sender: str) -> bool:
        return channel == self.id_channel and sender == str(self.telegram_id)


class LimitsConfig(Strict):
    """Limits per person (handlers/limits.py) and how long replies are kept for replays."""

    ideas_per_hour: int = Field(default=20, ge=1)
    comments_per_hour: int = Field(default=40, ge=1)
    votes_per_minute: int = Field(default=30, ge=1)
    messages_per_minute: int = Field(default=30, ge=1)
    # How long the replies to a message are kept to answer a resent copy the same way.
    replay_hours: float = Field(default=24, gt=0, le=24 * 14)


class ConsultationConfig(Strict):
    """Everything the handlers need to run the conversation and the reports."""

    consultation: ConsultationSettings
    questions: tuple[QuestionSettings, ...] = Field(min_length=1)
    gateway: tuple[GatewayQuestion, ...] = ()
    representation_targets: dict[str, dict[str, float]] = Field(default_factory=dict)
    sentiment: SentimentSettings = SentimentSettings()
    team: tuple[TeamMember, ...] = ()
    insights: InsightsSettings = InsightsSettings()
    limits: LimitsConfig = LimitsConfig()

    @model_validator(mode="after")
    def _cross_checks(self) -> ConsultationConfig:
        for section, keys in (
            ("questions", [q.key for q in self.questions]),
            ("gateway", [g.key for g in self.gateway]),
        ):
            repeated = sorted({key for key in keys if keys.count(key) > 1})
            if repeated:
                raise ValueError(f"{section}: each key must be unique, repeated: {repeated[0]}")
        gateway = {g.key: g for g in self.gateway}
        for question_key, targets in self.representation_targets.items():
            if question_key not in gateway:
                raise ValueError(
                    f"representation_targets.{question_key}: no gateway question has this key"
                )
            for option_key, share in targets.items():
                if gateway[question_key].find(option_key) is None:
                    raise ValueError(
                        f"representation_targets.{question_key}.{option_key}: "
                        f"not an option of that gateway question"
                    )
                if not 0 <= share <= 1:
                    raise ValueError(
                        f"representation_targets.{question_key}.{option_key}: "
                        f"a share between 0 and 1 is expected, got {share}"
                    )
        ids = [m.telegram_id for m in self.team]
        if len(set(ids)) != len(ids):
            raise ValueError("team: each telegram_id must appear once")
        return self

    def open_questions(self, now: datetime) -> list[QuestionSettings]:
        return [q for q in self.questions if q.is_open(now)]

    def gateway_question(self, key: str) -> GatewayQuestion | None:
        return next((g for g in self.gateway if g.key == key), None)

    def team_role(self, telegram_id: int) -> TeamRole | None:
        return next((m.role for m in self.team if m.telegram_id == telegram_id), None)
