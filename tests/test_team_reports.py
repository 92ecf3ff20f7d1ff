"""The team's report commands through the engine, as a Telegram team member sends them,
with the figures checked against the small consultation in tests/insights_data.py; and
the rules around them: only team members, roles, de-duplication, no participant rows."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from handlers.engine import Engine
from handlers.insights.context import Reporting
from handlers.insights.rankings import build_consensus, build_controversial, build_top
from handlers.insights.reach import build_reach
from handlers.insights.scope import ReportScope
from handlers.insights.summary import _confident_line, build_summary
from storage.models import AuditEntry, Contribution, Job, Participant, ProcessedMessage
from storage.scoring import wilson_lower_bound
from tests.insights_data import ADMIN, IDEAS, MODERATOR, VIEWER, people_of, team_member
from tests.people import Person


async def count(engine: Engine, model, *where) -> int:
    async with engine.store.reader() as unit:
        return await unit.session.scalar(select(func.count()).select_from(model).where(*where))


def reporting(engine: Engine) -> Reporting:
    return Reporting.of(engine.deps)


async def test_summary_counts_people_contributions_votes_and_the_last_day(
    team_engine: Engine,
) -> None:
    admin = team_member(team_engine)
    await admin.say("/summary")
    assert admin.keys == ["team:summary"]
    text = admin.text
    assert "Participants: 10 signed up, 10 took part" in text
    assert "Contributions: 5 (5 ideas, 0 comments). Votes: 27." in text
    assert "People by role: AHP 5 (50%), Patient 3 (30%), Carer 1 (10%), not given 1" in text
    assert "Votes: agree 20, disagree 6, skip 1" in text
    assert "contributions 5 (previous 24 hours: 0)" in text

    data = await build_summary(reporting(team_engine), ReportScope())
    assert (data["participants"], data["contributions"], data["votes"]) == (10, 5, 27)
    assert data["by_channel"] == {"console": 2, "telegram": 2, "sms": 1}
    assert data["by_role"] == {
        "physiotherapist": 4, "patient": 3, "carer": 1, "dietitian": 1, "not given": 1
    }  # fmt: skip
    assert data["by_role_group"] == {"ahp": 5, "patient": 3, "carer": 1, "not given": 1}
    assert data["by_region"]["london"] == 5 and data["by_age_band"]["65-74"] == 3
    assert data["people_by_channel"] == {"telegram": 5, "sms": 3, "console": 2}
    assert sum(data["sentiment"].values()) == 5 and data["by_status"] == {
        "visible": 4, "pending": 1
    }  # fmt: skip
    assert data["votes_by_value"] == {"agree": 20, "disagree": 6, "skip": 1}
    assert data["activity"]["last_24h"] == {"contributions": 5, "votes": 27, "joined": 10}
    assert [idea["id"] for idea in data["top"]] == [IDEAS["I4"], IDEAS["I1"], IDEAS["I2"]]

    # The windows end in part-hours: votes at 09:00 fall in the previous day's last hour.
    team_engine.clock.advance(hours=23, minutes=30)
    edge = await build_summary(reporting(team_engine), ReportScope())
    assert edge["activity"]["last_24h"]["votes"] == 0
    assert edge["activity"]["previous_24h"] == {"contributions": 5, "votes": 27, "joined": 10}
    question = ReportScope(question_key="ahp-action")
    scoped = await build_summary(reporting(team_engine), question)
    assert scoped["activity"]["previous_24h"]["votes"] == 27

    team_engine.clock.advance(hours=6, minutes=30)
    later = await build_summary(reporting(team_engine), ReportScope())
    assert later["activity"]["last_24h"] == {"contributions": 0, "votes": 0, "joined": 0}
    assert later["activity"]["previous_24h"] == {"contributions": 5, "votes": 27, "joined": 10}
    await admin.say("/summary")
    assert "contributions 0 (-100% on the previous 5)" in admin.text


async def test_summary_shows_the_sentiment_labels_the_analyser_is_confident_of(
    team_engine: Engine,
) -> None:
    async with team_engine.store.reader() as unit:
        stored = (await unit.session.execute(
            select(Contribution.label, Contribution.sentiment_confidence)
        )).all()  # fmt: skip
    expected: dict[str, int] = {}
    for label, confidence in stored:
        assert confidence is not None  # the chorus analyser gives one for every English text
        key = label if confidence >= 0.7 else "unsure"
        expected[key] = expected.get(key, 0) + 1
    data = await build_summary(reporting(team_engine), ReportScope())
    assert data["sentiment_confident"] == expected
    assert list(data["sentiment_confident"])[-1] == "unsure"
    sure = {key: n for key, n in expected.items() if key != "unsure"}
    assert sure and expected["unsure"]  # (the data holds both)

    admin = team_member(team_engine)
    await admin.say("/summary")
    line = next(x for x in admin.text.splitlines() if "the model is confident" in x)
    assert line.startswith("Sentiment where the model is confident (probability 0.7 or more): ")
    assert f"; {expected['unsure']} contribution" in line
    for label, n in sure.items():
        assert f"{label} {n} (" in line


def test_summary_without_confidences_shows_no_confident_line() -> None:
    data = {"sentiment": {"positive": 2}, "sentiment_confident": {}}
    assert _confident_line(data["sentiment_confident"]) == []


async def test_top_ranks_ideas_by_wilson_lower_bound(team_engine: Engine) -> None:
    admin = team_member(team_engine)
    await admin.say("/top 2")
    assert admin.keys == ["team:top"]
    assert (
        "1. idea 4 [0.57] +5/-0 (skip 1)" in admin.text and "2. idea 1 [0.53] +7/-1" in admin.text
    )
    assert "idea 2" not in admin.text
    data = await build_top(reporting(team_engine), ReportScope())
    assert [(i["id"], i["agree"], i["disagree"]) for i in data["ideas"]] == [
        (4, 5, 0), (1, 7, 1), (2, 5, 2), (3, 3, 3)
    ]  # fmt: skip
    for idea in data["ideas"]:
        expected = wilson_lower_bound(idea["agree"], idea["disagree"])
        assert idea["score"] == pytest.approx(expected, abs=1e-4)
    assert {i["channel"] for i in data["ideas"]} == {"telegram", "sms", "console"}
    assert all(i["label"] in ("positive", "neutral", "negative") for i in data["ideas"])
    assert IDEAS["P1"] not in [i["id"] for i in data["ideas"]]  # held for moderation


async def test_controversial_lists_evenly_split_ideas_with_many_votes(team_engine: Engine) -> None:
    admin = team_member(team_engine)
    await admin.say("/controversial")
    assert admin.keys == ["team:controversial"]
    assert "1. idea 3 50% agree +3/-3" in admin.text
    data = await build_controversial(reporting(team_engine), ReportScope())
    # I4 has no disagreement at all and I1 is 88% agreed (+7/-1): neither is split.
    assert [i["id"] for i in data["ideas"]] == [3, 2]
    assert "25% to 75% agree" in admin.text and "idea 1 " not in admin.text
    assert data["ideas"][0]["controversy"] == pytest.approx(6.0)


async def test_consensus_ranks_by_the_least_convinced_group(team_engine: Engine) -> None:
    admin = team_member(team_engine)
    await admin.say("/consensus")
    assert admin.keys == ["team:consensus"]
    assert "1. idea 1 lowest 100%: AHP 100% of 4, Patient 100% of 3" in admin.text
    assert "Too few votes to count on any idea listed: Other staff, Carer, Public, Student." in (
        admin.text
    )
    data = await build_consensus(reporting(team_engine), ReportScope())
    assert [(i["id"], i["consensus"]) for i in data["ideas"]] == [
        (1, 1.0), (4, 1.0), (2, pytest.approx(0.6667, abs=1e-4)), (3, 0.5)
    ]  # fmt: skip
    first = data["ideas"][0]
    assert first["counted"] == [
        {"group": "ahp", "agree": 4, "disagree": 0, "share": 1.0},
        {"group": "patient", "agree": 3, "disagree": 0, "share": 1.0},
    ]
    assert {"group": "carer", "votes": 1} in first["too_few"]

    # An idea every AHP likes and every patient rejects does not come first.
    people = people_of(team_engine)
    await people["p1"].say("/idea Only physiotherapists should run falls clinics")
    ahp_only = IDEAS["P1"] + 1
    for name in ("a1", "a2", "a3", "a4"):
        await people[name].press(f"vote:{ahp_only}:agree")
    for name in ("p2", "p3"):
        await people[name].press(f"vote:{ahp_only}:disagree")
    data = await build_consensus(reporting(team_engine), ReportScope())
    assert data["ideas"][-1]["id"] == ahp_only and data["ideas"][-1]["consensus"] == 0.0


async def test_reach_puts_the_biggest_gaps_first_and_names_their_channels(
    team_engine: Engine,
) -> None:
    # Two more AHPs take part, so carers (1 of 11 who gave a role) fall below 10%.
    for sender in ("106", "107"):
        newcomer = Person(team_engine, sender, channel="telegram")
        await newcomer.join(answers=("1", "11", "2", "4"))
        await newcomer.press(f"vote:{IDEAS['I4']}:agree")
    admin = team_member(team_engine)
    await admin.say("/reach")
    assert admin.keys == ["team:reach"]
    assert "Who is taking part (all questions, all time): 12 people." in admin.text
    assert "- Other staff: 0% of participants, target 10% (10 points short)" in admin.text
    assert "- Carer: 9% of participants, target 10% (1 point short); they come through " in (
        admin.text
    )
    assert "console 100%" in admin.text

    data = await build_reach(reporting(team_engine), ReportScope())
    gaps = [(g["group"], g["gap"]) for g in data["gaps"] if g["gap"] > 0]
    assert gaps == [
        ("other-staff", 0.1), ("public", 0.1), ("75-plus", 0.07), ("student", 0.05),
        ("under-18", 0.03), ("carer", pytest.approx(0.0091, abs=1e-4)),
    ]  # fmt: skip
    role = data["dimensions"]["role"]
    assert role["people"] == {"ahp": 7, "patient": 3, "carer": 1, "not given": 1}
    assert (role["answered"], role["not_given"]) == (11, 1)
    carer = next(g for g in data["gaps"] if g["group"] == "carer")
    assert carer["channels"] == {"console": 1} and carer["people"] == 1


async def test_reach_uses_answers_as_they_were_when_people_took_part(team_engine: Engine) -> None:
    people = people_of(team_engine)
    async with team_engine.store.transaction() as unit:
        p3 = await unit.participants.find(people["p3"].pseudonym)
        await unit.participants.update(p3.id, answers={**p3.answers, "role": "carer"})
    before = await build_reach(reporting(team_engine), ReportScope())
    assert before["dimensions"]["role"]["people"]["patient"] == 3  # past results unchanged
    assert before["dimensions"]["role"]["people"]["carer"] == 1

    await people["p1"].say("/idea Carers should get free parking at hospitals")
    await people["p3"].press(f"vote:{IDEAS['P1'] + 1}:agree")  # now as a carer
    after = await build_reach(reporting(team_engine), ReportScope())
    assert after["dimensions"]["role"]["people"]["patient"] == 3
    assert after["dimensions"]["role"]["people"]["carer"] == 2
    assert after["participants"] == 10


async def test_pending_shows_held_items_with_moderation_buttons(team_engine: Engine) -> None:
    moderator = team_member(team_engine, MODERATOR)
    await moderator.say("/pending")
    assert moderator.keys == ["team:pending_header", "team:pending_item"]
    assert "1 waiting for moderation" in moderator.text
    assert "idea 5, held for named person, via console" in moderator.text
    assert moderator.choices == ["approve:5", "hide:5", "amend:5"]


async def test_scope_by_question_window_and_date(team_engine: Engine) -> None:
    admin = team_member(team_engine)
    await admin.say("/top 2 ahp-action 7d")
    assert "question ahp-action, last 7 days (since 25 Nov 2026)" in admin.text
    assert "1. idea 4" in admin.text
    await admin.say("/summary ahp-future")
    assert "Contributions: 0 (0 ideas, 0 comments). Votes: 0." in admin.text
    await admin.say("/top 2026-12-02")
    assert "since 02 Dec 2026" in admin.text and "No ideas yet." in admin.text

    team_engine.clock.advance(days=10)
    await admin.say("/summary 7d")
    assert "Contributions: 0 (0 ideas, 0 comments). Votes: 0." in admin.text
    await admin.say("/summary 2w")
    assert "Contributions: 5" in admin.text and "Votes: 27" in admin.text
    await admin.say("/reach 7d")
    assert "0 people" in admin.text


@pytest.mark.parametrize(
    ("command", "complaint"),
    [
        ("/top banana", "I did not understand 'banana'"),
        ("/top 500", "ask for 1 to 50 ideas"),
        ("/summary 7d 2026-12-01", "give a window (7d) or a start date, not both"),
        ("/summary 2026-13-01", "'2026-13-01' is not a date"),
        ("/chart pie", "I did not understand 'pie'"),
    ],
)
async def test_bad_arguments_get_a_clear_reply(
    team_engine: Engine, command: str, complaint: str
) -> None:
    admin = team_member(team_engine)
    await admin.say(command)
    assert admin.keys == ["team:bad_arguments"] and complaint in admin.text


async def test_anyone_else_gets_the_unknown_command_reply_and_nothing_differs(
    team_engine: Engine,
) -> None:
    participant = people_of(team_engine)["a1"]  # on Telegram, but not in the team
    await participant.say("/frobnicate")
    unknown = participant.last.replies
    for command in ("/summary", "/top 3", "/pending", "/export", "/merge 2 1", "/chart reach"):
        await participant.say(command)
        assert participant.last.replies == unknown, command
    await participant.press("merge:2:1")
    assert participant.keys == ["unknown_command"]

    # Strangers: the team command and an unknown one leave the same traces.
    first, second = Person(team_engine, "555", "telegram"), Person(team_engine, "556", "telegram")
    await first.say("/frobnicate")
    await second.say("/summary")
    assert [r.text for r in first.last.replies] == [r.text for r in second.last.replies]
    async with team_engine.store.reader() as unit:
        rows = [
            await unit.session.scalar(select(Participant).where(Participant.pseudonym == p))
            for p in (first.pseudonym, second.pseudonym)
        ]
    assert rows == [None, None]  # neither left a participant row (none before consent)
    # A team member's id on another channel is not a team member.
    sms = Person(team_engine, ADMIN, "sms")
    await sms.say("yes")
    await sms.say("/summary")
    assert sms.keys != ["team:summary"]
    assert await count(team_engine, AuditEntry) == 0 and await count(team_engine, Job) == 0
    async with team_engine.store.reader() as unit:
        idea = await unit.contributions.get(IDEAS["I2"])
    assert idea.duplicate_of is None


async def test_roles_limit_what_each_member_can_do(team_engine: Engine) -> None:
    viewer = team_member(team_engine, VIEWER)
    await viewer.say("/summary")
    assert viewer.keys == ["team:summary"]
    for command in ("/pending", "/merge 2 1", "/approve 5", "/export"):
        await viewer.say(command)
        assert viewer.keys == ["team:not_allowed"], command
    assert "That needs the moderator role; you are a viewer." in (
        (await viewer.say("/pending"))[0].text
    )
    await viewer.press("hide:5")
    assert viewer.keys == ["team:not_allowed"]
    moderator = team_member(team_engine, MODERATOR)
    await moderator.say("/export")
    assert moderator.text == "That needs the admin role; you are a moderator."
    await moderator.say("/erase 5")
    assert moderator.keys == ["team:not_allowed"]
    async with team_engine.store.reader() as unit:
        held = await unit.contributions.get(IDEAS["P1"])
        merged = await unit.contributions.get(IDEAS["I2"])
    assert held.status == "pending" and merged.duplicate_of is None
    assert await count(team_engine, AuditEntry) == 0 and await count(team_engine, Job) == 0


async def test_team_commands_make_no_participant_and_are_applied_once(
    team_engine: Engine,
) -> None:
    before = await count(team_engine, Participant)
    admin = team_member(team_engine)
    first = await admin.send("/summary", message_id="tg-900")
    again = await admin.send("/summary", message_id="tg-900")
    assert first.replies and not first.duplicate
    assert again.duplicate and again.replies == ()
    moderator = team_member(team_engine, MODERATOR)
    await moderator.send(payload="approve:5", message_id="tg-901")
    replay = await moderator.send(payload="approve:5", message_id="tg-901")
    assert replay.duplicate
    assert await count(team_engine, AuditEntry) == 1
    assert await count(team_engine, Participant) == before
    assert await count(team_engine, ProcessedMessage, ProcessedMessage.message_id == "tg-900") == 1
    # Team members may still take part like anyone: their other messages are theirs.
    await admin.say("/start")
    assert admin.keys == ["welcome"]
    assert await count(team_engine, Participant) == before  # no row before consent
    await admin.say("yes")
    assert await count(team_engine, Participant) == before + 1
