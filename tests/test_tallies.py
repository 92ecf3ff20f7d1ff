"""The aggregates behind the team's reports stay equal to a recount of the contributions
and votes through every kind of change: new and changed votes, changed answers,
moderation, amendments, merges, erasure of people and of single contributions; the SQL
rebuild (used by the migration and the benchmark) gives the same tables; and a store
upgraded from before the aggregates existed gets them filled in."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC

from alembic import command
from sqlalchemy import select

from handlers.engine import Engine
from storage.grouping import consensus_of
from storage.migrate import alembic_config
from storage.models import (
    ActivityCount,
    Contribution,
    IdeaRoleTally,
    IdeaScore,
    Participation,
    Vote,
    VoteHour,
)
from storage.rebuild import rebuild_aggregates
from storage.scoring import controversy
from tests.insights_data import IDEAS, MODERATOR, people_of, team_member

VALUE_NAMES = {1: "agree", -1: "disagree", 0: "skip"}


async def stored(engine: Engine) -> dict[str, set]:
    """The aggregate tables as kept, without rows that count nothing."""
    async with engine.store.reader() as unit:
        session = unit.session
        activity = {
            (r.day, r.question_id, r.kind, r.dimension, r.value, r.count)
            for r in await session.scalars(select(ActivityCount))
            if r.count
        }
        people = {
            (r.question_id, r.dimension, r.value, r.participant_id, r.actions, r.first_day,
             r.last_day)
            for r in await session.scalars(select(Participation))
        }  # fmt: skip
        hours = {
            (r.hour, r.question_id, r.count)
            for r in await session.scalars(select(VoteHour))
            if r.count
        }
        # No row left at zero (it would say someone of that role voted on the idea).
        roles = {
            (r.contribution_id, r.role, r.agree, r.disagree, r.skip)
            for r in await session.scalars(select(IdeaRoleTally))
        }
        scores = {
            (r.contribution_id, round(r.controversy, 6),
             None if r.consensus is None else round(r.consensus, 6), r.consensus_groups,
             r.consensus_votes)
            for r in await session.scalars(select(IdeaScore))
            if r.controversy or r.consensus is not None or r.consensus_groups
        }  # fmt: skip
    return {
        "activity": activity,
        "participation": people,
        "roles": roles,
        "scores": scores,
        "hours": hours,
    }


async def recount(engine: Engine) -> dict[str, set]:
    """The same tables worked out directly from the contributions and votes, in Python."""
    async with engine.store.reader() as unit:
        contributions = list(await unit.session.scalars(select(Contribution)))
        votes = list(await unit.session.scalars(select(Vote)))
    question_of = {c.id: c.question_id for c in contributions}
    activity: Counter = Counter()
    actions: Counter = Counter()
    days: dict = defaultdict(list)

    grouping = engine.store.grouping

    def acted(person, question, channel, role, region, age, day):
        group = grouping.groups.get(role, role) if role else ""
        values = {
            "person": "", "channel": channel, "role": role or "", "role_group": group,
            "region": region or "", "age_band": age or "",
            "role_group+channel": f"{group}|{channel}",
            "region+channel": f"{region or ''}|{channel}",
            "age_band+channel": f"{age or ''}|{channel}",
        }  # fmt: skip
        for scope in {0, question or 0}:
            for dimension, value in values.items():
                key = (scope, dimension, value, person)
                actions[key] += 1
                days[key].append(day)

    for c in contributions:
        day = c.created_at.astimezone(UTC).date()
        values = {
            "channel": c.channel, "label": c.label, "language": c.language or "",
            "status": c.status, "role": c.role or "", "region": c.region or "",
            "age_band": c.age_band or "", "role_label": f"{c.role or ''}|{c.label}",
            "confident_label": (
                "" if c.sentiment_confidence is None
                else c.label if c.sentiment_confidence >= 0.7 else "unsure"
            ),
        }  # fmt: skip
        for dimension, value in values.items():
            activity[(day, c.question_id or 0, c.kind, dimension, value)] += 1
        acted(c.participant_id, c.question_id, c.channel, c.role, c.region, c.age_band, day)
    roles: dict = defaultdict(lambda: {"agree": 0, "disagree": 0, "skip": 0})
    hours: Counter = Counter()
    for v in votes:
        hours[(int(v.created_at.timestamp() // 3600), question_of[v.contribution_id] or 0)] += 1
        day = v.created_at.astimezone(UTC).date()
        question = question_of[v.contribution_id]
        values = {
            "channel": v.channel, "value": str(v.value), "role": v.role or "",
            "region": v.region or "", "age_band": v.age_band or "",
        }  # fmt: skip
        for dimension, value in values.items():
            activity[(day, question or 0, "vote", dimension, value)] += 1
        acted(v.participant_id, question, v.channel, v.role, v.region, v.age_band, day)
        roles[(v.contribution_id, v.role or "")][VALUE_NAMES[v.value]] += 1
    scores = set()
    for c in contributions:
        if c.kind != "idea" or not c.vote_count:
            continue
        rows = [(role, t["agree"], t["disagree"]) for (i, role), t in roles.items() if i == c.id]
        found = consensus_of(rows, grouping)
        score = (
            c.id, round(controversy(c.agree_count, c.disagree_count), 6),
            None if found.floor is None else round(found.floor, 6), found.groups, found.votes,
        )  # fmt: skip
        if score[1] or score[2] is not None or score[3]:
            scores.add(score)
    return {
        "activity": {(*key, n) for key, n in activity.items()},
        "participation": {(*key, n, min(days[key]), max(days[key])) for key, n in actions.items()},
        "roles": {
            (i, role, t["agree"], t["disagree"], t["skip"]) for (i, role), t in roles.items()
        },
        "scores": scores,
        "hours": {(*key, n) for key, n in hours.items()},
    }


async def assert_in_step(engine: Engine) -> None:
    kept, counted = await stored(engine), await recount(engine)
    for table in kept:
        assert kept[table] == counted[table], table
    async with engine.store.reader() as unit:
        for c in await unit.session.scalars(select(Contribution)):
            votes = [v.value for v in await unit.votes.for_idea(c.id)]
            assert (c.agree_count, c.disagree_count, c.skip_count) == (
                votes.count(1), votes.count(-1), votes.count(0)
            ), c.id  # fmt: skip


async def test_aggregates_match_a_recount_through_every_kind_of_change(
    team_engine: Engine,
) -> None:
    await assert_in_step(team_engine)
    people = people_of(team_engine)
    # Votes changed, and a vote cast after the person's answers changed.
    await people["a2"].press(f"vote:{IDEAS['I1']}:disagree")
    await people["s1"].press(f"vote:{IDEAS['I4']}:agree")
    async with team_engine.store.transaction() as unit:
        p3 = await unit.participants.find(people["p3"].pseudonym)
        await unit.participants.update(p3.id, answers={**p3.answers, "role": "carer"})
    await people["p3"].press(f"vote:{IDEAS['I1']}:agree")  # same value, new snapshot
    await people["p2"].say(f"/comment {IDEAS['I1']} Yes, and in schools too")
    team_engine.clock.advance(days=2)  # later actions fall on another day
    await people["c1"].press(f"vote:{IDEAS['I2']}:skip")
    await assert_in_step(team_engine)

    moderator = team_member(team_engine, MODERATOR)
    await moderator.press(f"approve:{IDEAS['P1']}")
    await moderator.say(f"/amend {IDEAS['I3']} Weekend rehab is a terrible waste of money")
    await moderator.press(f"merge:{IDEAS['I2']}:{IDEAS['I1']}")
    assert moderator.keys == ["team:merge_done"]
    await assert_in_step(team_engine)

    for name in ("a4", "c1"):  # c1 wrote I3, which others voted on
        await people[name].say("forget")
        await people[name].say("yes")
    admin = team_member(team_engine)
    await admin.say(f"/erase {IDEAS['I4']} yes")
    assert admin.keys == ["team:erased_item"]
    await assert_in_step(team_engine)

    async with team_engine.store.transaction() as unit:
        await rebuild_aggregates(unit.session, unit.backend, team_engine.store.grouping)
    await assert_in_step(team_engine)


async def test_an_upgraded_store_gets_its_aggregates_filled_in(team_engine: Engine) -> None:
    async with team_engine.store.engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0004"))
    await team_engine.store.upgrade()
    await team_engine.prepare()  # recomputes consensus: the role groups are new to the store
    kept = await stored(team_engine)
    # (Going back to 0004 dropped the sentiment confidences, added by 0009.)
    assert kept == await recount(team_engine)
    assert len(kept["scores"]) == 4 and kept["activity"] and kept["participation"]


async def test_an_upgraded_store_counts_its_confident_sentiment_labels(
    team_engine: Engine,
) -> None:
    expected = await recount(team_engine)
    confident = {row for row in expected["activity"] if row[3] == "confident_label"}
    values = {row[4] for row in confident}
    assert "unsure" in values and values & {"positive", "negative", "neutral"}, values
    async with team_engine.store.engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0010"))
    assert not {row for row in (await stored(team_engine))["activity"] if row in confident}
    await team_engine.store.upgrade()
    assert await stored(team_engine) == expected
