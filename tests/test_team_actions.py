"""Moderation, merging and erasure by the team, through the engine: what changes in the
store, what the audit log records, and what authors who asked for news are told."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.outbox import OutboxDispatcher
from handlers.dead_letters import keep_failed, list_failed
from handlers.engine import Engine
from handlers.types import Inbound
from storage.models import Contribution, OutboxMessage, SimilarPair, Vote
from storage.records import NewContribution
from tests.conftest import TEST_SECRET
from tests.insights_data import (
    ADMIN,
    IDEAS,
    MODERATOR,
    PEOPLE,
    RecordingChannel,
    people_of,
    services_of,
    team_member,
)

I1, I2, I3, I4, P1 = (IDEAS[key] for key in ("I1", "I2", "I3", "I4", "P1"))


async def audit(engine: Engine) -> list[dict]:
    async with engine.store.reader() as unit:
        return list(reversed(await unit.audit.recent()))


async def votes_on(engine: Engine, idea: int) -> dict[str, int]:
    """pseudonym -> vote value on an idea."""
    from storage.models import Participant

    async with engine.store.reader() as unit:
        rows = await unit.session.execute(
            select(Participant.pseudonym, Vote.value)
            .join(Participant, Participant.id == Vote.participant_id)
            .where(Vote.contribution_id == idea)
        )
        return dict(rows.all())


async def test_approve_hide_and_amend_are_applied_and_audited(team_engine: Engine) -> None:
    moderator = team_member(team_engine, MODERATOR)
    await moderator.press(f"approve:{P1}")
    assert moderator.text == f"Approved idea {P1}: voters can see it now."
    await moderator.say(f"/hide {I3}")
    assert moderator.keys == ["team:hidden"]
    await moderator.press(f"amend:{I4}")
    assert moderator.keys == ["team:amend_how"] and "Longer appointments" in moderator.text
    await moderator.say(
        f"/amend {I4} Longer appointments for people with dementia, call 07700 900123"
    )
    assert moderator.keys == ["team:amended"]
    async with team_engine.store.reader() as unit:
        approved, hidden, amended = [await unit.contributions.get(i) for i in (P1, I3, I4)]
    assert (approved.status, hidden.status, amended.status) == ("visible", "hidden", "visible")
    assert amended.text == "Longer appointments for people with dementia, call [phone]"
    assert amended.redactions == ("phone",) and amended.language == "en"
    entries = await audit(team_engine)
    assert [(e["action"], e["target"]) for e in entries] == [
        ("approve", f"contribution:{P1}"), ("hide", f"contribution:{I3}"),
        ("amend", f"contribution:{I4}"),
    ]  # fmt: skip
    assert entries[0]["detail"]["from"] == "pending"
    assert entries[0]["detail"]["reason"] == "named_person"
    assert entries[2]["detail"]["original"] == "Longer appointments for people with dementia"
    assert entries[2]["detail"]["by"] == {"name": "Sam", "role": "moderator"}
    actor = entries[0]["actor"]
    assert actor.startswith("team:") and MODERATOR not in actor
    assert all(e["at"] is not None for e in entries)
    await moderator.say("/approve 999")
    assert moderator.text == "There is no idea 999."


async def test_merge_combines_votes_without_counting_anyone_twice(team_engine: Engine) -> None:
    people = people_of(team_engine)
    before_i1, before_i2 = await votes_on(team_engine, I1), await votes_on(team_engine, I2)
    both = set(before_i1) & set(before_i2)
    assert len(both) == 5  # a2, a3, p2, p3 and c1 voted on both
    moderator = team_member(team_engine, MODERATOR)
    await moderator.press(f"merge:{I2}:{I1}")
    assert moderator.text == (
        f"Merged idea {I2} into idea {I1}: 1 vote moved, 6 dropped (people who voted on both "
        f"keep their vote on idea {I1}). Now idea {I1} has +7/-2. Authors told: 2."
    )
    after_i1 = await votes_on(team_engine, I1)
    assert await votes_on(team_engine, I2) == {}
    for pseudonym in both:
        assert after_i1[pseudonym] == before_i1[pseudonym]  # c1 still disagrees, a3 agrees
    assert after_i1[people["s1"].pseudonym] == -1  # moved: s1 had voted only on I2
    assert people["a1"].pseudonym not in after_i1  # I1's author: their I2 vote is dropped
    async with team_engine.store.reader() as unit:
        survivor = await unit.contributions.get(I1)
        duplicate = await unit.contributions.get(I2)
        total = await unit.session.scalar(select(func.count()).select_from(Vote))
        news = list(await unit.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    assert (survivor.agree_count, survivor.disagree_count, survivor.skip_count) == (7, 2, 0)
    assert (duplicate.agree_count, duplicate.disagree_count, duplicate.duplicate_of) == (0, 0, I1)
    assert total == 27 - 6
    assert [n.text for n in news] == [
        f"News about your idea {I1}: we joined a similar idea with it. Votes on both now count "
        "together.",
        f'News about your idea {I2}: we joined it with a similar idea, idea {I1}: "Physios in '
        'every GP surgery would cut waiting times". Votes on both now count together.',
    ]
    entry = (await audit(team_engine))[-1]
    assert (entry["action"], entry["target"]) == ("merge", f"contribution:{I2}")
    assert entry["detail"]["into"] == I1 and entry["detail"]["votes_moved"] == 1
    assert entry["detail"]["votes_dropped"] == 6 and entry["detail"]["authors_told"] == 2

    # The duplicate is gone from rankings and from voting, and cannot be merged again.
    admin = team_member(team_engine, ADMIN)
    await admin.say("/top")
    assert f"idea {I2} " not in admin.text
    await people["a4"].press(f"vote:{I2}:agree")
    assert people["a4"].keys[0] == "vote_gone"
    await moderator.press(f"merge:{I2}:{I1}")
    assert moderator.text == f"idea {I2} is already merged into idea {I1}."


async def test_merge_news_reaches_authors_through_their_channel_and_names_no_one(
    team_engine: Engine,
) -> None:
    moderator = team_member(team_engine, MODERATOR)
    await moderator.press(f"merge:{I2}:{I1}")
    channels = {name: RecordingChannel(name) for name in ("telegram", "sms")}
    assert await OutboxDispatcher(services_of(team_engine), channels).run_once() == 2
    ((a1_address, a1_news),) = channels["telegram"].sent
    ((p1_address, p1_news),) = channels["sms"].sent
    assert (a1_address, p1_address) == (PEOPLE["a1"][0], PEOPLE["p1"][0])
    for reply in a1_news + p1_news:
        for name, (platform_id, _channel) in PEOPLE.items():
            assert platform_id not in reply.text and name not in reply.text.split()
        assert TEST_SECRET not in reply.text


async def test_merge_refuses_what_cannot_be_merged(team_engine: Engine) -> None:
    people = people_of(team_engine)
    await people["p2"].say(f"/comment {I1} Also in walk-in centres")
    async with team_engine.store.transaction() as unit:
        comment = await unit.session.scalar(
            select(Contribution.id).where(Contribution.kind == "comment")
        )
        author = await unit.participants.find(people["p2"].pseudonym)
        other = await unit.contributions.add(
            NewContribution(
                kind="idea",
                participant_id=author.id,
                text="Physios in every GP surgery would cut waiting times",
                channel="sms",
                channel_message_id="other-question",
                label="neutral",
                created_at=team_engine.clock(),
                question_id=team_engine.question_ids["ahp-future"],
            )
        )
    moderator = team_member(team_engine, MODERATOR)
    for command, expected in (
        (f"/merge {I1} {I1}", "Choose two different ideas to merge."),
        (
            f"/merge c{comment} {I1}",
            f"comment c{comment} is not an idea that can be merged or moved.",
        ),
        (f"/merge {other.number} {I1}", "answer different questions"),
        ("/merge 12", "Use: /merge DUPLICATE INTO"),
        ("/merge 998 999", "There is no idea 998."),
    ):
        await moderator.say(command)
        assert expected in moderator.text, command
    assert not [e for e in await audit(team_engine) if e["action"] == "merge"]


async def test_a_dismissed_pair_is_not_offered_again(team_engine: Engine) -> None:
    async with team_engine.store.transaction() as unit:
        await unit.similar.save_pairs(
            team_engine.question_ids["ahp-action"], [(I1, I2, 0.7)], team_engine.clock()
        )
    moderator = team_member(team_engine, MODERATOR)
    await moderator.press(f"dismiss:{I1}:{I2}")
    assert moderator.text == f"OK: idea {I1} and idea {I2} will not be offered as similar again."
    async with team_engine.store.transaction() as unit:
        await unit.similar.save_pairs(None, [(I2, I1, 0.9)], team_engine.clock())
        status = await unit.session.scalar(select(SimilarPair.status))
        assert await unit.similar.open_pairs(None, limit=5) == []
    assert status == "dismissed"
    assert (await audit(team_engine))[-1]["action"] == "dismiss_similar"

    # A pair typed by hand, before any search offered it, is not offered later either.
    await moderator.say(f"/dismiss {I4} {I3}")
    assert moderator.keys == ["team:dismissed"]
    async with team_engine.store.transaction() as unit:
        await unit.similar.save_pairs(None, [(I3, I4, 0.8)], team_engine.clock())
        assert await unit.similar.open_pairs(None, limit=5) == []
    for command, expected in (
        ("/dismiss 998 999", "There is no idea 998."),
        (f"/dismiss {I3} {I3}", "Choose two different ideas."),
    ):
        await moderator.say(command)
        assert moderator.text == expected, command
    assert [e["action"] for e in await audit(team_engine)].count("dismiss_similar") == 2


async def test_admins_erase_a_contribution_or_a_person_after_confirming(
    team_engine: Engine,
) -> None:
    admin = team_member(team_engine, ADMIN)
    await admin.say(f"/erase {I3}")
    assert admin.keys == ["team:erase_ask"]
    assert admin.choices == [f"erase:{I3}:yes", f"erase:{I3}:no"]
    await admin.press(f"erase:{I3}:no")
    assert admin.keys == ["team:erase_cancelled"]
    await admin.press(f"erase:{I3}:yes")
    assert admin.text == f"Erased idea {I3} and the 6 votes on it."
    async with team_engine.store.reader() as unit:
        assert await unit.contributions.get(I3) is None

    people = people_of(team_engine)
    p2 = people["p2"]
    # A message of p2's and one of p3's failed and were kept; erasing p2 drops only hers.
    for person in (p2, people["p3"]):
        kept = Inbound(person.channel, person.sender, f"kept-{person.sender}", team_engine.clock())
        await keep_failed(team_engine, kept, RuntimeError("enrichment crashed"))
    prefix = p2.pseudonym[:10]
    await admin.say(f"/erase person {prefix}")
    assert admin.choices == [
        f"erase:person:{p2.pseudonym[:16]}:yes",
        f"erase:person:{p2.pseudonym[:16]}:no",
    ]
    await admin.press(f"erase:person:{p2.pseudonym[:16]}:yes")
    assert admin.text == "Erased that person: 0 contributions, 3 votes."
    async with team_engine.store.reader() as unit:
        assert await unit.participants.find(p2.pseudonym, lock=False) is None
    entries = [e for e in await audit(team_engine) if e["action"].startswith("erase")]
    assert [(e["action"], e["target"]) for e in entries] == [
        ("erase", f"contribution:{I3}"), ("erase_person", "participant")
    ]  # fmt: skip
    assert entries[0]["detail"]["votes"] == 6
    assert entries[1]["detail"]["pseudonym_prefix"] == p2.pseudonym[:8]
    assert entries[1]["detail"]["kept_messages"] == 1
    kept_ids = [record.message_id for record in await list_failed(team_engine, include_done=True)]
    assert kept_ids == [f"kept-{people['p3'].sender}"]
    assert p2.pseudonym not in str(entries[1])
    await admin.say("/erase person 00000000")
    assert admin.text == "No participant has a pseudonym starting 00000000."
