"""The participant conversation through the engine, on SQLite and PostgreSQL, with the
store checked after each step."""

from __future__ import annotations

from sqlalchemy import func, select, text

from handlers.engine import Engine
from storage.database import Store
from storage.models import Base, Contact, Contribution, Participant, ProcessedMessage, Vote
from tests.people import DISTINCT_IDEAS, Person


async def scalar(store: Store, query):
    async with store.reader() as unit:
        return await unit.session.scalar(query)


async def participant_row(store: Store, pseudonym: str) -> Participant | None:
    async with store.reader() as unit:
        return await unit.session.scalar(
            select(Participant).where(Participant.pseudonym == pseudonym)
        )


async def count(store: Store, model, *where) -> int:
    return await scalar(store, select(func.count()).select_from(model).where(*where))


async def test_whole_journey_with_store_checks(engine: Engine, store: Store) -> None:
    amira = Person(engine, "amira")
    await amira.say("/start")
    assert amira.keys == ["welcome"]
    assert amira.choices == ["consent:yes", "consent:no"]
    # No participant row before consent (issue 16): the welcome is answered, nothing kept.
    assert await participant_row(store, amira.pseudonym) is None

    await amira.say("YES")
    row = await participant_row(store, amira.pseudonym)
    assert row.consent_at is not None
    assert amira.keys == ["gateway:role"]

    await amira.say("1")  # Allied health professional -> which one?
    assert amira.keys == ["gateway:role"] and "Which allied health job do you do?" in amira.text
    await amira.say("11")  # Physiotherapist
    assert amira.keys == ["gateway:region"]
    await amira.say("london")  # by label, any case
    await amira.say("skip")
    row = await participant_row(store, amira.pseudonym)
    assert row.answers == {"role": "physiotherapist", "region": "london", "age_band": None}
    assert (row.role, row.region, row.age_band) == ("physiotherapist", "london", None)
    assert amira.keys == ["menu"]

    await amira.say("/idea Physios in every GP surgery would cut waiting times")
    assert amira.keys == ["idea_saved", "menu"]  # no news in a terminal (see journey_choices)
    async with store.reader() as unit:
        idea = await unit.session.scalar(select(Contribution))
    assert idea.kind == "idea" and idea.role == "physiotherapist" and idea.region == "london"
    assert idea.language == "en" and idea.label in ("positive", "neutral", "negative")
    assert idea.polarity is not None and idea.status == "visible" and idea.channel == "console"

    bob = Person(engine, "bob")
    await bob.join(answers=("3", "skip", "3"))  # patient; age 25 to 34
    await bob.say("VOTE")
    assert bob.keys == ["vote_card"] and f"Idea {idea.id}:" in bob.text
    assert bob.choices == [
        f"vote:{idea.id}:agree",
        f"vote:{idea.id}:disagree",
        f"vote:{idea.id}:skip",
    ]
    await bob.say("1")
    assert bob.keys == ["vote_done", "menu"]
    async with store.reader() as unit:
        vote = await unit.session.scalar(select(Vote))
        tallied = await unit.contributions.get(idea.id)
    assert vote.value == 1 and vote.role == "patient" and vote.age_band == "25-34"
    assert (tallied.agree_count, tallied.disagree_count) == (1, 0)

    await amira.say("mydata")
    assert amira.keys == ["mydata", "menu"]
    assert "Physiotherapist" in amira.text and "ideas: 1" in amira.text and "votes: 0" in amira.text

    await amira.say("/forget")
    assert amira.keys == ["forget_ask"]
    assert await count(store, Contribution) == 1  # nothing deleted before confirming
    await amira.say("yes")
    assert amira.keys == ["forgotten"]
    assert await participant_row(store, amira.pseudonym) is None
    assert await count(store, Contribution) == 0
    assert await count(store, Vote) == 0  # bob's vote went with the idea


async def test_forget_leaves_no_row_that_names_or_links_to_the_person(
    engine: Engine, store: Store
) -> None:
    amira, bob = Person(engine, "amira", channel="telegram"), Person(engine, "bob")
    await amira.join(answers=("5", "2", "4"))
    await bob.join()
    await bob.say("idea More community rehab beds")
    await amira.say("idea Longer appointments for people with dementia")
    await amira.say("yes")  # news about my ideas: keeps an encrypted contact
    await amira.say("vote")
    await amira.say("2")
    await amira.say("comment #1 Beds need staff too")
    row = await participant_row(store, amira.pseudonym)
    person_id, pseudonym = row.id, row.pseudonym
    assert await count(store, Contact, Contact.participant_id == person_id) == 1

    await amira.say("forget")
    await amira.say("yes")

    async with store.reader() as unit:
        for table in Base.metadata.sorted_tables:
            rows = (await unit.session.execute(table.select())).all()
            for values in rows:
                flat = " ".join(str(v) for v in values)
                assert pseudonym not in flat, f"{table.name} still names the person"
                assert "amira" not in flat, f"{table.name} still holds the platform id"
            for column in table.columns:
                if column.name == "participant_id":
                    linked = await unit.session.scalar(
                        select(func.count()).select_from(table).where(column == person_id)
                    )
                    assert linked == 0, f"{table.name} still links to the person"
    idea = await scalar(store, select(Contribution).where(Contribution.kind == "idea"))
    assert idea.agree_count == 0 and idea.disagree_count == 0  # the vote was withdrawn


async def test_refusal_keeps_nothing_but_the_refusal(engine: Engine, store: Store) -> None:
    carol = Person(engine, "carol")
    await carol.say("/idea This text must not be kept")
    assert carol.keys == ["welcome"]
    await carol.say("no")
    assert carol.keys == ["refused"]
    row = await participant_row(store, carol.pseudonym)
    assert row.refused_at is not None and row.consent_at is None
    assert row.answers == {} and row.language is None
    assert await count(store, Contribution) == 0
    await carol.say("hello again")
    assert carol.keys == ["refused_before"]
    await carol.say("yes")
    assert carol.keys == ["gateway:role"]


async def test_a_replayed_message_id_is_applied_once(engine: Engine, store: Store) -> None:
    dev = Person(engine, "dev")
    await dev.join()
    first = await dev.send("idea Walk-in physio clinics", message_id="same-id")
    again = await dev.send("idea Walk-in physio clinics", message_id="same-id")
    assert not first.duplicate and first.replies
    assert again.duplicate and again.replies == first.replies  # answered the same way
    assert await count(store, Contribution) == 1
    assert await count(store, ProcessedMessage, ProcessedMessage.message_id == "same-id") == 1


async def test_commands_work_in_any_case_with_or_without_slash(
    engine: Engine, store: Store
) -> None:
    eve = Person(engine, "eve")
    await eve.join()
    for message in ("/IDEA First idea here", "Idea Second idea here", "idea third idea here"):
        await eve.say(message)
        assert eve.keys[0] == "idea_saved", message
        await eve.say("no")
    assert await count(store, Contribution) == 3
    for word in ("HELP", "/help", "Help"):
        await eve.say(word)
        assert eve.keys == ["help"]


async def test_bad_input_gets_a_clear_reply_and_stores_nothing(
    engine: Engine, store: Store
) -> None:
    fay = Person(engine, "fay")
    await fay.join()
    before = await count(store, ProcessedMessage)
    await fay.say("   \n\t ")
    assert fay.keys == ["empty"]
    await fay.say("x" * 2001)
    assert fay.keys == ["too_long"] and "2,001" in fay.text and "2,000" in fay.text
    assert await count(store, ProcessedMessage) == before  # rejected before any transaction
    await fay.say("/frobnicate")
    assert fay.keys == ["unknown_command"]
    await fay.say("7")  # the menu has four choices
    assert fay.keys == ["out_of_range", "menu"] and "1 to 4" in fay.text
    assert await count(store, Contribution) == 0


async def test_votes_for_missing_or_own_ideas_are_refused(engine: Engine, store: Store) -> None:
    gil, hal = Person(engine, "gil"), Person(engine, "hal")
    await gil.join()
    await hal.join()
    await gil.say("idea Gil's own idea about podiatry")
    await gil.say("no")
    idea_id = await scalar(store, select(Contribution.id))
    await gil.press(f"vote:{idea_id}:agree")
    assert gil.keys[0] == "vote_own"
    await hal.press("vote:99999:agree")
    assert hal.keys[0] == "vote_gone"
    assert await count(store, Vote) == 0


async def test_an_old_button_votes_on_its_own_idea(engine: Engine, store: Store) -> None:
    authors = [Person(engine, f"author{n}") for n in range(3)]
    for number, author in enumerate(authors):
        await author.join()
        await author.say(f"idea {DISTINCT_IDEAS[number]}")
    voter = Person(engine, "voter")
    await voter.join()
    await voter.say("vote")
    first_card = voter.choices[0]  # vote:<id>:agree for the idea first shown
    await voter.say("3")  # skip it
    await voter.press(first_card)  # then press agree on the old card
    first_id = int(first_card.split(":")[1])
    async with store.reader() as unit:
        vote = await unit.votes.of(
            (await unit.participants.find(voter.pseudonym, lock=False)).id, first_id
        )
    assert vote.value == 1  # the skip was changed to agree, on the right idea


async def test_voting_shows_least_voted_ideas_and_never_ones_own(
    engine: Engine, store: Store
) -> None:
    people = [Person(engine, f"p{n}") for n in range(4)]
    for number, person in enumerate(people):
        await person.join()
        await person.say(f"idea {DISTINCT_IDEAS[number]}")
        await person.say("no")
    seen: list[int] = []
    voter = people[0]
    await voter.say("vote")
    while voter.keys == ["vote_card"]:
        seen.append(int(voter.choices[0].split(":")[1]))
        await voter.say("2")
    own = await scalar(
        store,
        select(Contribution.id).join(Participant).where(Participant.pseudonym == voter.pseudonym),
    )
    assert own not in seen and len(seen) == 3 and len(set(seen)) == 3
    assert voter.keys == ["vote_done", "menu"]


async def test_abusive_text_waits_for_moderation_and_is_not_shown(
    engine: Engine, store: Store
) -> None:
    ivy, jon = Person(engine, "ivy"), Person(engine, "jon")
    await ivy.join()
    await jon.join()
    await ivy.say("idea This shit service needs fixing")
    assert ivy.keys[0] == "idea_pending"
    idea = await scalar(store, select(Contribution))
    assert idea.status == "pending" and idea.moderation_reason == "abuse"
    await jon.say("vote")
    assert jon.keys == ["vote_done", "menu"]


async def test_comments_attach_to_the_idea_on_screen(engine: Engine, store: Store) -> None:
    kim, lee = Person(engine, "kim"), Person(engine, "lee")
    await kim.join()
    await kim.say("idea Dietitians in care homes")
    await lee.join()
    await lee.say("vote")
    await lee.say("comment")
    assert lee.keys == ["comment_ask"]
    await lee.say("Yes, and speech therapists too")
    assert lee.keys == ["comment_saved", "menu"]
    idea, comment = (await scalar(store, select(func.min(Contribution.id)))), None
    async with store.reader() as unit:
        comment = await unit.session.scalar(
            select(Contribution).where(Contribution.kind == "comment")
        )
    assert comment.parent_id == idea and comment.text == "Yes, and speech therapists too"


async def test_control_characters_are_stripped_and_unicode_kept(
    engine: Engine, store: Store
) -> None:
    mo = Person(engine, "mo")
    await mo.join()
    texts = [
        "Mae\u2019r gwasanaeth ffisiotherapi yn wych \U0001f44d\U0001f3fd",
        "Zaż\u00f3łć gęślą jaźń: więcej fizjoterapeutów",
        "\u0646\u062d\u062a\u0627\u062c \u0627\u0644\u0645\u0632\u064a\u062f \u200f",
        "Family \U0001f468\u200d\U0001f469\u200d\U0001f467 support workers",
    ]
    for message in texts:
        await mo.say(f"idea {message}")
        await mo.say("no")
    await mo.say("idea Tabs\tand\x00 nulls\x07 removed\x1b")
    async with store.reader() as unit:
        stored = list(
            await unit.session.scalars(select(Contribution.text).order_by(Contribution.id))
        )
    assert stored[:4] == texts
    assert stored[4] == "Tabs\tand nulls removed"


async def test_personal_data_is_redacted_before_storage(engine: Engine, store: Store) -> None:
    ned = Person(engine, "ned")
    await ned.join()
    await ned.say("idea Call me on 07700 900123 or ned@example.org, I live in SW1A 1AA")
    stored = await scalar(store, select(Contribution))
    assert "07700" not in stored.text and "example.org" not in stored.text
    assert "SW1A 1AA" not in stored.text
    assert set(stored.redactions) == {"phone", "email", "postcode"}
    async with store.reader() as unit:
        dump = " ".join(
            str(row)
            for row in (await unit.session.execute(text("SELECT * FROM participants"))).all()
        )
    assert "07700" not in dump


async def test_follow_up_addresses_are_stored_encrypted(engine: Engine, store: Store) -> None:
    sms = Person(engine, "+447700900123", channel="sms")
    await sms.join()
    await sms.say("idea Text reminders for appointments")
    await sms.say("yes")
    assert sms.keys == ["followup_yes", "menu"]
    contact = await scalar(store, select(Contact))
    assert b"447700900123" not in contact.address_encrypted
    assert engine.contacts.decrypt(contact.address_encrypted) == "+447700900123"


async def test_sms_stop_is_recognised_before_any_question(engine: Engine, store: Store) -> None:
    phone = Person(engine, "+447700900456", channel="sms")
    await phone.say("start")
    await phone.say("yes")
    assert phone.keys == ["gateway:role"]
    await phone.say("STOP")  # never taken as an answer to the open question
    assert phone.keys == ["opted_out"] and phone.last.opted_out
    row = await participant_row(store, phone.pseudonym)
    assert row.opted_out and row.answers == {}
    processed = await count(store, ProcessedMessage)
    outcome = await phone.send("idea This should go nowhere")
    assert outcome.replies == () and outcome.opted_out
    assert await count(store, Contribution) == 0
    assert await count(store, ProcessedMessage) == processed  # nothing stored at all
    await phone.say("START")
    # Back where they were: the question that was open is asked again.
    assert phone.keys == ["opted_in", "gateway:role"] and not phone.last.opted_out
    assert not (await participant_row(store, phone.pseudonym)).opted_out


async def test_more_than_one_open_question_asks_which(engine: Engine, store: Store, clock) -> None:
    from datetime import timedelta

    questions = engine.config.questions
    # Reopen the second question now, so both are open.
    second = questions[1].model_copy(update={"opens": questions[0].opens})
    engine.replace_deps(
        config=engine.config.model_copy(update={"questions": (questions[0], second)})
    )
    pat = Person(engine, "pat")
    await pat.join()
    await pat.say("idea Radiographers reporting more scans")
    assert pat.keys == ["ask_question"] and len(pat.choices) == 2
    clock.advance(seconds=1)
    await pat.say("2")
    assert pat.keys[0] == "idea_saved"
    idea = await scalar(store, select(Contribution))
    assert idea.question_id == engine.question_ids[second.key]
    assert idea.text == "Radiographers reporting more scans"
    assert timedelta(0) <= idea.created_at - clock.now <= timedelta(seconds=1)


async def test_a_late_press_of_consent_no_asks_before_erasing(engine: Engine, store: Store) -> None:
    quinn = Person(engine, "quinn")
    await quinn.join()
    await quinn.say("idea Hydrotherapy pools in every trust")
    await quinn.press("consent:yes")
    assert quinn.keys == ["menu"]
    await quinn.press("consent:no")
    assert quinn.keys == ["forget_ask"]
    assert await count(store, Contribution) == 1
    await quinn.say("no")
    assert quinn.keys == ["forget_kept", "menu"]
    row = await participant_row(store, quinn.pseudonym)
    assert row.consent_at is not None and row.refused_at is None


async def test_forged_huge_ids_are_answered_not_crashed(engine: Engine, store: Store) -> None:
    rex = Person(engine, "rex")
    await rex.join()
    await rex.press("vote:99999999999999999999:agree")
    assert rex.keys[0] == "vote_gone"
    await rex.say("COMMENT 99999999999999999999 nice")
    assert rex.keys == ["menu"] and rex.text.startswith("That idea is no longer open")
    await rex.press("vote:0:agree")
    assert rex.keys[0] == "vote_gone"
    assert await count(store, Vote) == 0
