"""Issue 14's journey through the engine, on the terminal (console) path and SMS: the
question shown first, "Prefer not to say" as a choice, commenting on a chosen idea (and
cancelling), the menu after every action, NEWS OFF without erasure, a wrong choice
answered in the channel's terms, and "Is your idea like one of these?"."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.channels.sms_render import render_sms
from handlers.engine import Engine
from storage.database import Store
from storage.models import Contact, Contribution, Participant, Vote
from tests.people import Person

QUESTION = "What one change would help allied health professionals do more for patients?"
PARKING = "Free parking at hospitals for carers and patients"


async def count(store: Store, model, *where) -> int:
    async with store.reader() as unit:
        return await unit.session.scalar(select(func.count()).select_from(model).where(*where))


async def ideas(store: Store) -> list[Contribution]:
    async with store.reader() as unit:
        rows = await unit.session.scalars(
            select(Contribution).where(Contribution.kind == "idea").order_by(Contribution.id)
        )
        return list(rows)


async def test_the_question_comes_first(engine: Engine) -> None:
    amira = Person(engine, "amira")
    await amira.say("START")
    assert amira.keys == ["welcome"] and QUESTION in amira.text
    await amira.say("yes")
    for _ in range(3):
        await amira.say("skip")
    assert amira.keys == ["menu"]
    assert "You are all set" in amira.text and QUESTION in amira.text
    await amira.say("IDEA")
    assert amira.keys == ["ask_idea"] and QUESTION in amira.text
    await amira.say("1")  # "Share an idea" by its number from the menu
    await amira.say("skip")
    await amira.say("1")
    assert amira.keys == ["ask_idea"] and QUESTION in amira.text


async def test_prefer_not_to_say_is_a_choice(engine: Engine, store: Store) -> None:
    amira = Person(engine, "amira")
    await amira.say("START")
    await amira.say("yes")
    assert amira.keys == ["gateway:role"]
    assert amira.choices[-1] == "gw:role:skip"
    assert amira.last.replies[-1].choices[-1].label == "Prefer not to say"
    await amira.press("gw:role:skip")  # a button
    assert amira.keys == ["gateway:region"]
    await amira.say(str(len(amira.choices)))  # the last number of the list
    assert amira.keys == ["gateway:age_band"]
    await amira.say("prefer not to say")  # by its label
    assert amira.keys == ["menu"]
    async with store.reader() as unit:
        person = await unit.session.scalar(select(Participant))
    assert person.answers == {"role": None, "region": None, "age_band": None}

    sam = Person(engine, "+447700900001", channel="sms")
    await sam.say("START")
    await sam.say("yes")
    [text] = render_sms(sam.last.replies)
    assert text.endswith(f"{len(sam.choices)} Prefer not to say")
    await sam.say(str(len(sam.choices)))
    assert sam.keys == ["gateway:region"]


async def test_comment_on_a_chosen_idea_or_cancel(engine: Engine, store: Store) -> None:
    alice, bob = Person(engine, "alice"), Person(engine, "bob")
    await alice.join()
    await alice.say("IDEA Longer appointments with physios for older people")
    await alice.say("no")
    await alice.say("IDEA Evening x-ray clinics for people who work")
    first, second = await ideas(store)
    await bob.join()

    await bob.say("COMMENT")
    assert bob.keys == ["comment_choose"]
    assert set(bob.choices) == {f"comment:{first.id}", f"comment:{second.id}", "cancel"}
    assert bob.choices[-1] == "cancel"
    chosen = next(i for i in (first, second) if bob.choices[0] == f"comment:{i.id}")
    await bob.say("1")  # the first of the list
    assert bob.keys == ["comment_ask"]
    assert f"Your comment is for idea {chosen.idea_number}" in bob.text
    other = second if chosen is first else first
    await bob.say(str(other.idea_number))  # a lone number picks that idea, not a comment
    assert bob.keys == ["comment_ask"]
    assert f"Your comment is for idea {other.idea_number}" in bob.text
    await bob.say("Yes please, and on Saturdays too")
    assert bob.keys == ["comment_saved", "menu"]
    async with store.reader() as unit:
        comment = await unit.session.scalar(
            select(Contribution).where(Contribution.kind == "comment")
        )
    assert comment.parent_id == other.id and comment.text == "Yes please, and on Saturdays too"

    await bob.say(f"COMMENT {first.idea_number}")
    assert bob.keys == ["comment_ask"] and bob.choices == ["cancel"]
    await bob.say("CANCEL")
    assert bob.keys == ["cancelled", "menu"]
    await bob.say("COMMENT")
    await bob.press("cancel")  # the Cancel button
    assert bob.keys == ["cancelled", "menu"]
    await bob.say(f"COMMENT {first.idea_number}")
    await bob.say("SKIP")
    assert bob.keys == ["cancelled", "menu"]
    assert await count(store, Contribution, Contribution.kind == "comment") == 1

    # By SMS, the ideas are numbered and "1" picks the first of them.
    sam = Person(engine, "+447700900002", channel="sms")
    await sam.join()
    await sam.say("COMMENT")
    [text] = render_sms(sam.last.replies)
    assert "Reply 1 Idea" in text and text.endswith("3 Cancel")
    await sam.say("1")
    assert sam.keys == ["comment_ask"]
    await sam.say("Good idea")
    assert sam.keys == ["comment_saved", "menu"]


async def test_the_menu_follows_every_action(engine: Engine) -> None:
    alice, bob = Person(engine, "alice", channel="telegram"), Person(engine, "bob", channel="sms")
    await alice.join()
    await alice.say("IDEA Longer appointments with physios for older people")
    assert alice.keys == ["idea_saved", "followup_ask"]
    await alice.say("no")
    assert alice.keys == ["followup_no", "menu"]
    await alice.say("IDEA Evening x-ray clinics for people who work")
    assert alice.keys == ["idea_saved", "menu"]
    await alice.say("MYDATA")
    assert alice.keys == ["mydata", "menu"]
    await bob.join()
    await bob.say("VOTE")
    await bob.say("1")
    await bob.say("2")
    assert bob.keys == ["vote_done", "menu"]
    await bob.say("IDEA Free hearing tests in libraries")
    await bob.say("yes")
    assert bob.keys == ["followup_yes", "menu"]


async def test_news_off_keeps_everything_else(engine: Engine, store: Store) -> None:
    alice = Person(engine, "alice", channel="telegram")
    await alice.join()
    await alice.say("IDEA Longer appointments with physios for older people")
    await alice.say("yes")
    assert "Send NEWS OFF to stop" in alice.text and "FORGET" not in alice.text
    assert await count(store, Contact) == 1
    await alice.say("NEWS OFF")
    assert alice.keys == ["news_off", "menu"]
    assert await count(store, Contact) == 0
    assert await count(store, Contribution) == 1
    async with store.reader() as unit:
        person = await unit.session.scalar(select(Participant))
    assert person.followups is False and person.consent_at is not None
    await alice.say("News about waiting lists would help")  # not the NEWS command
    assert alice.keys[0] == "idea_saved"


async def test_a_wrong_choice_in_the_channels_terms(engine: Engine) -> None:
    typed = Person(engine, "terminal")
    await typed.say("START")
    await typed.say("yes")
    await typed.say("99")
    count_choices = len(typed.choices)
    assert typed.keys == ["out_of_range", "gateway:role"]
    assert f"a number from 1 to {count_choices}" in typed.text

    pressing = Person(engine, "web", channel="web", buttons=True)
    await pressing.say("START")
    await pressing.say("yes")
    await pressing.say("99")
    assert pressing.keys == ["choose_button", "gateway:role"]
    assert "choose one of the buttons" in pressing.text and "number" not in pressing.text

    texting = Person(engine, "+447700900003", channel="sms")
    await texting.say("START")
    await texting.say("yes")
    await texting.say("99")
    assert f"a number from 1 to {len(texting.choices)}" in "\n".join(
        render_sms(texting.last.replies)
    )


async def test_an_alike_idea_is_offered_before_storing(engine: Engine, store: Store) -> None:
    alice, bob, carol = Person(engine, "alice"), Person(engine, "bob"), Person(engine, "carol")
    for person in (alice, bob, carol):
        await person.join()
    await alice.say("IDEA Evening x-ray clinics for people who work")
    await alice.say("no")
    await alice.say(f"IDEA {PARKING}")
    assert alice.keys == ["idea_saved", "menu"]
    clinics, parking = await ideas(store)

    await bob.say("IDEA free parking for carers and patients at hospitals")
    assert bob.keys == ["alike_ask"]
    assert f"Idea {parking.idea_number}: {PARKING}" in bob.text
    assert bob.choices == [f"alike:{parking.id}", "alike:new"]
    await bob.say("1")
    assert bob.keys == ["alike_voted", "menu"]
    assert await count(store, Contribution) == 2  # no new idea
    assert await count(store, Vote, Vote.contribution_id == parking.id, Vote.value == 1) == 1

    await carol.say("IDEA Free parking at hospitals for carers and patients, and for staff")
    assert carol.keys == ["alike_ask"]
    await carol.say("Mine is different")
    assert carol.keys[0] == "idea_saved"
    stored = (await ideas(store))[-1]
    assert stored.text == "Free parking at hospitals for carers and patients, and for staff"
    assert await count(store, Vote, Vote.contribution_id == parking.id) == 1

    # Its negation is a different idea: no offer, stored at once.
    await bob.say("IDEA No free parking at hospitals for carers and patients")
    assert bob.keys[0] == "idea_saved"
    assert await count(store, Vote, Vote.contribution_id == clinics.id) == 0


async def test_the_alike_offer_by_sms(engine: Engine, store: Store) -> None:
    alice = Person(engine, "+447700900010", channel="sms")
    sam = Person(engine, "+447700900011", channel="sms")
    await alice.join()
    await alice.say("IDEA More physiotherapists in GP surgeries")
    await alice.say("no")
    [physios] = await ideas(store)
    await sam.join()

    await sam.say("IDEA Fewer physiotherapists in GP surgeries")  # the opposite
    assert sam.keys == ["idea_saved", "followup_ask"]
    await sam.say("no")
    assert await count(store, Contribution) == 2

    await sam.say("IDEA More physios in GP surgeries")
    assert sam.keys == ["alike_ask"]
    [text] = render_sms(sam.last.replies)
    assert f"Idea {physios.idea_number}: More physiotherapists in GP surgeries" in text
    assert text.endswith(f"Reply 1 Idea {physios.idea_number}, 2 Mine is different")
    await sam.say("2")
    assert sam.keys == ["idea_saved", "menu"]
    assert await count(store, Contribution) == 3

    await sam.say("IDEA more physiotherapists in GP surgeries please")
    assert sam.keys == ["alike_ask"]
    assert sam.choices[0] == f"alike:{physios.id}"
    await sam.say("1")
    assert sam.keys == ["alike_voted", "menu"]
    assert await count(store, Contribution) == 3
    assert await count(store, Vote, Vote.contribution_id == physios.id) == 1


async def test_moving_on_from_the_alike_offer_keeps_the_idea(engine: Engine, store: Store) -> None:
    """Offered ideas like theirs, a person who sends VOTE (or HELP, or another IDEA) has
    not said theirs is the same: it is stored as typed and they are told its number.
    YES does not say which idea: the offer is asked again. SKIP drops it, as it says."""
    alice, bob = Person(engine, "alice"), Person(engine, "bob")
    for person in (alice, bob):
        await person.join()
    await alice.say(f"IDEA {PARKING}")
    await alice.say("no")

    await bob.say("IDEA free parking for carers and patients at hospitals")
    assert bob.keys == ["alike_ask"]
    await bob.say("yes")
    assert bob.keys == ["choose_button", "alike_ask"] or bob.keys == ["out_of_range", "alike_ask"]
    await bob.say("VOTE")
    assert bob.keys[0] == "idea_saved" and bob.keys[1] != "menu"
    stored = await ideas(store)
    assert [idea.text for idea in stored] == [
        PARKING,
        "free parking for carers and patients at hospitals",
    ]
    assert f"idea {stored[-1].idea_number}" in bob.text.casefold()

    await bob.say("IDEA Free parking at hospitals for carers and patients please")
    assert bob.keys == ["alike_ask"]
    await bob.say("SKIP")
    assert bob.keys == ["cancelled", "menu"]
    assert await count(store, Contribution) == 2


async def test_news_is_offered_only_where_it_can_be_sent(engine: Engine, store: Store) -> None:
    """A terminal, the web form, a call or a public post only answer: no news is offered
    there and no address is kept for it; NEWS ON says why."""
    ideas = {"console": "Physios visiting care homes", "web": "Free parking at hospitals"}
    for channel, idea in ideas.items():
        person = Person(engine, f"someone-{channel}", channel=channel)
        await person.join()
        await person.say(f"IDEA {idea}")
        assert person.keys == ["idea_saved", "menu"], channel
        await person.say("NEWS ON")
        assert person.keys == ["news_unavailable", "menu"], channel
        assert "text message or chat app" in person.text
        await person.say("HELP")
        assert person.keys == ["help"] and "NEWS" not in person.text, channel
        assert "MYDATA" in person.text and "FORGET" in person.text
    assert await count(store, Contact) == 0
    async with store.reader() as unit:
        assert not any(await unit.session.scalars(select(Participant.followups)))
    texting = Person(engine, "+447700900111", channel="sms")
    await texting.join()
    await texting.say("IDEA Speech therapy in every secondary school")
    assert texting.keys[-1] == "followup_ask"
    chatting = Person(engine, "chat-1", channel="telegram")
    await chatting.join()
    await chatting.say("HELP")
    assert chatting.keys == ["help"] and "Send NEWS OFF to stop news" in chatting.text
