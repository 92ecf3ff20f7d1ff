"""A small consultation built through the engine, with every figure known, for the team
insights tests: ten people in three roles on three channels, four ideas, one held
for moderation, and 27 votes chosen so that every report has a clear answer.

    I1 (a1, AHP)     "Physios in every GP surgery..."      +7 -1   consensus 1.00 (7 votes)
    I2 (p1, patient) "Put physiotherapists in GP..."       +5 -2   near-duplicate of I1
    I3 (c1, carer)   "More weekend rehab sessions..."      +3 -3   the controversial one
    I4 (a5, AHP)     "Longer appointments for dementia"    +5 -0 (1 skip)
    P1 (s1)          names a doctor: held for moderation

Everyone who voted on I2 also voted on I1, except s1; a1 wrote I1 and voted on I2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.channels.base import Channel
from bot.delivery import Delivery
from bot.metrics import Metrics
from bot.services import Services
from handlers.engine import Engine
from handlers.types import Reply
from storage.records import NewContribution
from tests.people import Person

ADMIN, MODERATOR, VIEWER = "1001", "1002", "1003"
TEAM = [
    {"telegram_id": int(ADMIN), "role": "admin", "name": "Priya"},
    {"telegram_id": int(MODERATOR), "role": "moderator", "name": "Sam"},
    {"telegram_id": int(VIEWER), "role": "viewer", "name": "Vic"},
]
INSIGHTS = {
    "consensus_min_votes": 2,
    "consensus_min_groups": 2,
    "controversial_min_votes": 4,
    "refresh_minutes": 30,
}

# Gateway answers by number: role (1 AHP -> 11 physiotherapist, 5 dietitian), region, age.
PHYSIO = ("1", "11", "2", "4")  # physiotherapist, London, 35 to 44
DIETITIAN = ("1", "5", "3", "5")  # dietitian, Midlands, 45 to 54
PATIENT = ("3", "4", "7")  # patient, North East and Yorkshire, 65 to 74
CARER = ("4", "2", "6")  # carer, London, 55 to 64
SKIPPED = ("skip", "skip", "skip")

IDEA_TEXTS = {
    "I1": "Physios in every GP surgery would cut waiting times",
    "I2": "Put physiotherapists in GP practices to reduce waits",
    "I3": "More weekend rehab sessions for people after a stroke",
    "I4": "Longer appointments for people with dementia",
    "P1": "Dr Smith on ward 5 was rude to my mother",
}
VOTES = {
    "I1": {"a2": "agree", "a3": "agree", "a4": "agree", "a5": "agree", "p1": "agree",
           "p2": "agree", "p3": "agree", "c1": "disagree"},
    "I2": {"a1": "agree", "a2": "agree", "a3": "disagree", "p2": "agree", "p3": "agree",
           "c1": "agree", "s1": "disagree"},
    "I3": {"a1": "disagree", "a2": "agree", "a3": "disagree", "a4": "agree", "p1": "agree",
           "p2": "disagree"},
    "I4": {"a1": "agree", "a2": "agree", "p1": "agree", "p2": "agree", "c1": "agree",
           "s1": "skip"},
}  # fmt: skip


# name -> (platform id, channel)
PEOPLE = {
    **{f"a{n}": (f"10{n}", "telegram") for n in range(1, 6)},
    **{f"p{n}": (f"+4477009000{n}", "sms") for n in range(1, 4)},
    "c1": ("carer-1", "console"),
    "s1": ("quiet-1", "console"),
}
IDEAS = {"I1": 1, "I2": 2, "I3": 3, "I4": 4, "P1": 5}  # the ids they get in a fresh store


@dataclass
class Consultation:
    people: dict[str, Person]
    ideas: dict[str, int]  # I1..I4, P1 -> contribution id


def people_of(engine: Engine) -> dict[str, Person]:
    return {name: Person(engine, sender, channel) for name, (sender, channel) in PEOPLE.items()}


def team_member(engine: Engine, who: str = ADMIN) -> Person:
    return Person(engine, who, channel="telegram")


async def build_consultation(engine: Engine) -> Consultation:
    people = people_of(engine)
    answers = {"a5": DIETITIAN, "c1": CARER, "s1": SKIPPED}
    for name, person in people.items():
        profile = answers.get(name) or (PHYSIO if name.startswith("a") else PATIENT)
        await person.join(answers=profile)
    ideas = {}
    for key, author, news in (
        ("I1", "a1", "yes"),
        ("I2", "p1", "yes"),
        ("I3", "c1", "no"),
        ("I4", "a5", "no"),
        ("P1", "s1", "no"),
    ):
        person = people[author]
        await person.say(f"/idea {IDEA_TEXTS[key]}")
        await person.say(news)  # news about my ideas?
        ideas[key] = await _latest_contribution(engine, person)
    assert ideas == IDEAS
    for key, votes in VOTES.items():
        for name, choice in votes.items():
            replies = await people[name].press(f"vote:{ideas[key]}:{choice}")
            assert replies, (key, name)
    return Consultation(people, ideas)


async def _latest_contribution(engine: Engine, person: Person) -> int:
    from sqlalchemy import select

    from storage.models import Contribution, Participant

    async with engine.store.reader() as unit:
        return await unit.session.scalar(
            select(Contribution.id)
            .join(Participant, Participant.id == Contribution.participant_id)
            .where(Participant.pseudonym == person.pseudonym)
            .order_by(Contribution.id.desc())
            .limit(1)
        )


class RecordingChannel(Channel):
    """A channel that keeps what Chorus sends outside a conversation, for checking."""

    def __init__(self, name: str = "telegram") -> None:
        self.name = name
        self.sent: list[tuple[str, list[Reply]]] = []

    async def deliver(self, address: str, replies: Sequence[Reply]) -> None:
        self.sent.append((address, list(replies)))


def services_of(engine: Engine) -> Services:
    """The runtime's bundle of services around a test engine."""
    from tests.conftest import insights_settings

    return Services(
        settings=insights_settings(engine.store.url),
        store=engine.store,
        engine=engine,
        contacts=engine.contacts,
        metrics=Metrics(),
        delivery=Delivery(engine, Metrics()),
    )


async def add_ideas(engine: Engine, texts: list[str], prefix: str) -> list[int]:
    """Ideas for the open question by one author, stored directly (quicker than chatting)."""
    question = engine.question_ids["ahp-action"]
    ids = []
    async with engine.store.transaction() as unit:
        author = await unit.participants.create(f"author-{prefix}", "console", engine.clock())
        for number, text in enumerate(texts):
            enriched = engine.enricher.enrich(text)
            idea = await unit.contributions.add(
                NewContribution(
                    kind="idea",
                    participant_id=author.id,
                    text=enriched.text,
                    channel="console",
                    channel_message_id=f"{prefix}-{number}",
                    label=enriched.label,
                    created_at=engine.clock(),
                    question_id=question,
                    language=enriched.language,
                )
            )
            ids.append(idea.id)
    return ids
