"""Synthetic consultation data for bench/insights.py, made with numpy in chunks so a
million contributions and five million votes never sit in memory at once.

Shaped like a real consultation: participants mostly AHPs, with fewer patients and
carers, some who skip the gateway questions; a few very active people; ideas worded
from a dozen topics (so themes have something to find); votes spread unevenly across
ideas, each idea with its own level of support; everything dated over 60 days ending
now, so the last-24-hours figures have data. Each idea's agree/disagree/skip counts and
score are computed from its generated votes, so the store is consistent before the
aggregates are rebuilt from it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

CHUNK_IDEAS = 50_000
SECONDS = 60 * 86400

CHANNELS = ["telegram", "sms", "web", "x", "console"]
CHANNEL_SHARE = [0.55, 0.28, 0.10, 0.05, 0.02]
AHP_ROLES = [
    "physiotherapist", "occupational-therapist", "paramedic", "radiographer", "dietitian",
    "speech-language-therapist", "podiatrist", "operating-department-practitioner",
    "orthoptist", "osteopath", "prosthetist-orthotist", "art-therapist", "music-therapist",
    "drama-therapist", "ahp",
]  # fmt: skip
ROLES = [*AHP_ROLES, "other-staff", "patient", "carer", "public", "student", ""]
ROLE_SHARE = [0.12, 0.09, 0.08, 0.06, 0.05, 0.04, 0.03, 0.02, 0.01, 0.01, 0.01, 0.005, 0.005,
              0.005, 0.03, 0.10, 0.10, 0.05, 0.07, 0.04, 0.075]  # fmt: skip
REGIONS = ["east-of-england", "london", "midlands", "north-east-yorkshire", "north-west",
           "south-east", "south-west", "scotland", "wales", "northern-ireland", ""]  # fmt: skip
REGION_SHARE = [0.10, 0.16, 0.16, 0.12, 0.12, 0.14, 0.08, 0.02, 0.02, 0.01, 0.07]
AGES = ["under-18", "18-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75-plus", ""]
AGE_SHARE = [0.01, 0.07, 0.22, 0.24, 0.20, 0.12, 0.06, 0.02, 0.06]
LABELS = ["positive", "neutral", "negative", "unscored"]
LABEL_SHARE = [0.38, 0.37, 0.20, 0.05]
POLARITY = {"positive": 0.4, "neutral": 0.0, "negative": -0.35, "unscored": None}

TOPICS = [
    ("waiting times for {service} are far too long", ["physiotherapy", "scans", "MRI",
     "podiatry", "speech therapy", "wheelchairs", "hearing tests"]),
    ("let patients refer themselves to {service}", ["physio", "podiatry", "dietitians",
     "speech and language therapy", "occupational therapy"]),
    ("train and pay {staff} properly so they stay", ["radiographers", "paramedics",
     "support workers", "therapists", "students on placement"]),
    ("book {service} appointments online and get text reminders", ["physio", "x-ray",
     "clinic", "follow-up", "blood test"]),
    ("more home visits for {people} after discharge", ["older people", "stroke survivors",
     "housebound patients", "people with dementia"]),
    ("clinics in {place} closer to home", ["community centres", "libraries", "schools",
     "GP surgeries", "town centres"]),
    ("mental health support for {people}", ["staff", "carers", "young people", "students"]),
    ("free parking and transport for {people} at hospitals", ["patients", "carers",
     "visitors", "volunteers"]),
    ("share records between {place} so people do not repeat their story", ["hospitals and GPs",
     "ambulances and A&E", "care homes and clinics"]),
    ("{staff} in every {place}", ["physiotherapists", "dietitians", "pharmacists",
     "occupational therapists"]),
    ("less paperwork so {staff} can see more patients", ["therapists", "paramedics",
     "radiographers", "nurses"]),
    ("falls prevention and exercise classes for {people}", ["older people", "people with arthritis",
     "people after surgery"]),
]  # fmt: skip
FILLERS = {
    "service": ["physiotherapy", "podiatry", "scans"],
    "staff": ["therapists", "paramedics", "radiographers"],
    "people": ["older people", "carers", "patients"],
    "place": ["GP surgery", "A&E department", "care home", "school"],
}
OPENINGS = ["", "Please ", "I think we need ", "We should ", "It would help to have "]


@dataclass
class BenchData:
    scale: float
    question_ids: dict[str, int]
    seed: int = 2026
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.rng = rng
        self.people = max(int(200_000 * self.scale), 100)
        self.contributions = max(int(1_000_000 * self.scale), 500)
        self.vote_total = max(int(5_000_000 * self.scale), 2500)
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.start = self.now - timedelta(seconds=SECONDS)
        people = self.people

        def share(values: list[float]) -> np.ndarray:
            return np.asarray(values) / sum(values)

        self.p_channel = rng.choice(len(CHANNELS), people, p=share(CHANNEL_SHARE))
        self.p_role = rng.choice(len(ROLES), people, p=share(ROLE_SHARE))
        self.p_region = rng.choice(len(REGIONS), people, p=share(REGION_SHARE))
        self.p_age = rng.choice(len(AGES), people, p=share(AGE_SHARE))
        self.p_joined = np.sort(rng.integers(0, SECONDS, people))
        n = self.contributions
        self.is_idea = rng.random(n) < 0.75
        self.idea_ids = np.flatnonzero(self.is_idea) + 1
        active = rng.choice(people, max(people // 20, 1), replace=False)
        self.author = np.where(
            rng.random(n) < 0.3, rng.choice(active, n), rng.integers(0, people, n)
        )
        self.created = np.sort(rng.integers(0, SECONDS, n))
        # An author writes after joining: shift the join time back where needed.
        self.p_joined[self.author] = np.minimum(self.p_joined[self.author], self.created)
        weights = rng.lognormal(0.0, 1.0, len(self.idea_ids))
        self.votes_per_idea = rng.multinomial(self.vote_total, weights / weights.sum())
        self.approval = rng.beta(4.0, 2.5, len(self.idea_ids))
        self.counts = {"participants": people, "contributions": n, "votes": 0}

    def at(self, seconds: int) -> datetime:
        return self.start + timedelta(seconds=int(seconds))

    def participant_rows(self) -> Iterator[tuple]:
        for i in range(self.people):
            answers = {
                "role": ROLES[self.p_role[i]] or None,
                "region": REGIONS[self.p_region[i]] or None,
                "age_band": AGES[self.p_age[i]] or None,
            }
            joined = self.at(self.p_joined[i])
            yield (
                i + 1, f"{i + 1:064x}", CHANNELS[self.p_channel[i]], "en", joined, None,
                json.dumps(answers), json.dumps({"step": "menu"}), answers["role"],
                answers["region"], answers["age_band"], False, bool(i % 3 == 0), False, joined,
                joined,
            )  # fmt: skip

    def chunks(self) -> Iterator[tuple[list[tuple], list[tuple]]]:
        """(contribution rows, vote rows) for consecutive ranges of contributions."""
        vote_id = 0
        idea_position = 0  # index into self.idea_ids of the chunk's first idea
        bounds = list(range(0, self.contributions, CHUNK_IDEAS)) + [self.contributions]
        for first, end in zip(bounds, bounds[1:], strict=False):
            ids = np.arange(first + 1, end + 1)
            ideas_here = ids[self.is_idea[first:end]]
            count = len(ideas_here)
            span = slice(idea_position, idea_position + count)
            votes = self._votes(ideas_here, self.votes_per_idea[span], self.approval[span])
            idea_position += count
            tallies = {int(i): [0, 0, 0] for i in ideas_here}
            vote_rows = []
            for idea, voter, value, when in votes:
                tallies[idea][{1: 0, -1: 1, 0: 2}[value]] += 1
                vote_id += 1
                stamp = self.at(when)
                vote_rows.append(
                    (vote_id, voter + 1, idea, value, CHANNELS[self.p_channel[voter]],
                     ROLES[self.p_role[voter]] or None, REGIONS[self.p_region[voter]] or None,
                     AGES[self.p_age[voter]] or None, stamp, stamp)
                )  # fmt: skip
            self.counts["votes"] += len(vote_rows)
            yield [self._contribution(int(c), tallies.get(int(c))) for c in ids], vote_rows

    def _votes(self, ideas: np.ndarray, wanted: np.ndarray, approval: np.ndarray):
        """(idea, voter index, value, seconds) with one vote per person and idea, never
        by the idea's author."""
        rng = self.rng
        idea_of = np.repeat(ideas, wanted)
        p_of = np.repeat(approval, wanted)
        voters = rng.integers(0, self.people, len(idea_of))
        keep = np.ones(len(idea_of), dtype=bool)
        for _round in range(5):
            keys = idea_of.astype(np.int64) * self.people + voters
            _unique, first = np.unique(keys, return_index=True)
            keep[:] = False
            keep[first] = True
            keep &= voters != self.author[idea_of - 1]
            if keep.all():
                break
            voters = np.where(keep, voters, rng.integers(0, self.people, len(voters)))
        idea_of, voters, p_of = idea_of[keep], voters[keep], p_of[keep]
        draw = rng.random(len(idea_of))
        values = np.where(draw < 0.12, 0, np.where(rng.random(len(idea_of)) < p_of, 1, -1))
        # Most votes come soon after an idea appears, none after now.
        posted = self.created[idea_of - 1]
        when = posted + ((SECONDS - 1 - posted) * rng.random(len(idea_of)) ** 3).astype(np.int64)
        return zip(idea_of.tolist(), voters.tolist(), values.tolist(), when.tolist(), strict=True)

    def _contribution(self, cid: int, tally: list[int] | None) -> tuple:
        rng = self.rng
        index = cid - 1
        author = int(self.author[index])
        idea = bool(self.is_idea[index])
        template, words = TOPICS[int(rng.integers(len(TOPICS)))]
        slot = template[template.index("{") + 1 : template.index("}")]
        fillers = {key: rng.choice(values) for key, values in FILLERS.items()}
        text = template.format(**{**fillers, slot: rng.choice(words)})
        text = (OPENINGS[int(rng.integers(len(OPENINGS)))] + text).capitalize()
        label = LABELS[int(rng.choice(len(LABELS), p=np.asarray(LABEL_SHARE) / sum(LABEL_SHARE)))]
        status_draw = rng.random()
        status = "pending" if status_draw < 0.015 else "hidden" if status_draw < 0.02 else "visible"
        reason = (
            ("abuse" if status_draw < 0.005 else "named_person") if status != "visible" else None
        )
        parent = None
        if not idea:
            before = int(np.searchsorted(self.idea_ids, cid))
            parent = int(self.idea_ids[rng.integers(before)]) if before else None
        question_keys = list(self.question_ids)
        question = self.question_ids[question_keys[0 if rng.random() < 0.7 else -1]]
        agree, disagree, skip = tally or (0, 0, 0)
        return (
            cid, "idea" if idea else "comment", question, parent, author + 1, text,
            "en" if label != "unscored" else "cy", POLARITY[label],
            None if label == "unscored" else 0.5, label, "[]", status, reason,
            CHANNELS[self.p_channel[author]], False, f"bench-{cid}", None,
            ROLES[self.p_role[author]] or None, REGIONS[self.p_region[author]] or None,
            AGES[self.p_age[author]] or None, agree, disagree, skip, agree + disagree + skip,
            wilson(agree, disagree), self.at(self.created[index]),
        )  # fmt: skip


def wilson(agree: int, disagree: int) -> float:
    from storage.scoring import wilson_lower_bound

    return wilson_lower_bound(agree, disagree)


PARTICIPANT_COLUMNS = [
    "id",
    "pseudonym",
    "channel",
    "language",
    "consent_at",
    "refused_at",
    "answers",
    "state",
    "role",
    "region",
    "age_band",
    "opted_out",
    "followups",
    "unreachable",
    "created_at",
    "last_seen_at",
]
CONTRIBUTION_COLUMNS = [
    "id",
    "kind",
    "question_id",
    "parent_id",
    "participant_id",
    "text",
    "language",
    "polarity",
    "subjectivity",
    "label",
    "redactions",
    "status",
    "moderation_reason",
    "channel",
    "assisted",
    "channel_message_id",
    "duplicate_of",
    "role",
    "region",
    "age_band",
    "agree_count",
    "disagree_count",
    "skip_count",
    "vote_count",
    "score",
    "created_at",
]
VOTE_COLUMNS = [
    "id", "participant_id", "contribution_id", "value", "channel", "role", "region", "age_band",
    "created_at", "updated_at",
]  # fmt: skip


def _sqlite_value(value: object) -> object:
    # The format SQLAlchemy stores SQLite datetimes in (naive UTC).
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def load_sqlite(url: str, data: BenchData) -> None:
    """Bulk insert with the sqlite3 module: executemany in one transaction per table."""
    import sqlite3

    connection = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
    try:
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA foreign_keys=OFF")
        connection.execute("PRAGMA cache_size=-200000")

        def insert(table: str, columns: list[str], rows) -> None:
            marks = ", ".join("?" for _ in columns)
            connection.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                (tuple(_sqlite_value(v) for v in row) for row in rows),
            )

        connection.execute("BEGIN")
        insert("participants", PARTICIPANT_COLUMNS, data.participant_rows())
        for contributions, votes in data.chunks():
            insert("contributions", CONTRIBUTION_COLUMNS, contributions)
            insert("votes", VOTE_COLUMNS, votes)
        connection.execute("COMMIT")
    finally:
        connection.close()


async def load_postgres(url: str, data: BenchData) -> None:
    """Bulk load with COPY (asyncpg's copy_records_to_table)."""
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.copy_records_to_table(
            "participants", records=data.participant_rows(), columns=PARTICIPANT_COLUMNS
        )
        for contributions, votes in data.chunks():
            await connection.copy_records_to_table(
                "contributions", records=contributions, columns=CONTRIBUTION_COLUMNS
            )
            await connection.copy_records_to_table("votes", records=votes, columns=VOTE_COLUMNS)
        for table in ("participants", "contributions", "votes"):
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    finally:
        await connection.close()
