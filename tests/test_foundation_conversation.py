"""The conversation's promises checked one by one, on SQLite and PostgreSQL: voting order
and randomness, changing a vote, the numbered choices, every command word, and bad input
that is answered and leaves nothing stored."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select

from bot.channels.console import render
from handlers.engine import Engine
from storage.database import Store
from storage.models import Contribution, Participant, ProcessedMessage, Vote
from tests.people import DISTINCT_IDEAS, Person


async def _count(store: Store, model, *where) -> int:
    async with store.reader() as unit:
        return await unit.session.scalar(select(func.count()).select_from(model).where(*where))


async def _ideas(engine: Engine, count: int) -> None:
    """Ideas 1 to `count`, each by its own author."""
    for number in range(1, count + 1):
        author = Person(engine, f"author-{number}")
        await author.join()
        await author.say(f"idea {DISTINCT_IDEAS[number - 1]}")
        assert f"idea {number}." in author.text
        await author.say("no")


async def _first_card(engine: Engine, name: str) -> int:
    voter = Person(engine, name)
    await voter.join()
    await voter.say("vote")
    assert voter.keys == ["vote_card"]
    return int(voter.choices[0].split(":")[1])


async def test_the_most_voted_idea_is_never_offered_before_the_least_voted(
    engine: Engine, store: Store
) -> None:
    await _ideas(engine, 4)
    popular = 1
    for number in range(3):  # idea 1 gets three votes, the others none
        fan = Person(engine, f"fan-{number}")
        await fan.join()
        await fan.press(f"vote:{popular}:agree")
    firsts = set()
    for seed in range(12):
        engine.replace_deps(rng=random.Random(seed))
        firsts.add(await _first_card(engine, f"newcomer-{seed}"))
    assert popular not in firsts
    assert len(firsts) > 1  # some randomness among the least voted


async def test_ideas_come_in_order_of_fewest_votes(engine: Engine, store: Store) -> None:
    await _ideas(engine, 3)
    # Votes: idea 1 none, idea 2 two, idea 3 four.
    for idea, voters in ((2, 2), (3, 4)):
        for number in range(voters):
            fan = Person(engine, f"fan-{idea}-{number}")
            await fan.join()
            await fan.press(f"vote:{idea}:disagree")
    voter = Person(engine, "voter")
    await voter.join()
    await voter.say("vote")
    seen = []
    while voter.keys[-1] == "vote_card":
        seen.append(int(voter.choices[0].split(":")[1]))
        await voter.say("3")
    assert seen == [1, 2, 3]


async def test_a_second_vote_changes_the_first(engine: Engine, store: Store) -> None:
    await _ideas(engine, 1)
    voter = Person(engine, "changer")
    await voter.join()
    await voter.say("vote")
    card = voter.choices
    await voter.say("1")  # agree
    await voter.press(card[1])  # then disagree on the same card
    async with store.reader() as unit:
        votes = list(await unit.session.scalars(select(Vote)))
        idea = await unit.contributions.get(1)
    assert [vote.value for vote in votes] == [-1]
    assert (idea.agree_count, idea.disagree_count, idea.skip_count) == (0, 1, 0)


async def test_vote_choices_are_numbered_the_same_everywhere(engine: Engine) -> None:
    await _ideas(engine, 1)
    voter = Person(engine, "numbers")
    await voter.join()
    await voter.say("VOTE")
    card = voter.last.replies[-1]
    assert [c.payload.rsplit(":", 1)[1] for c in card.choices] == ["agree", "disagree", "skip"]
    assert render(card).splitlines()[-3:] == ["  1. 👍 Agree", "  2. 👎 Disagree", "  3. Skip"]
    assert [c.compact for c in card.choices] == ["Agree", "Disagree", "Skip"]


async def test_a_number_out_of_range_while_voting_stores_nothing(
    engine: Engine, store: Store
) -> None:
    await _ideas(engine, 1)
    voter = Person(engine, "fumble")
    await voter.join()
    await voter.say("vote")
    for answer in ("4", "0", "12"):
        await voter.say(answer)
        assert voter.keys == ["out_of_range"] and "1 to 3" in voter.text, answer
    await voter.say("maybe")
    assert voter.keys == ["vote_use_numbers"]
    assert await _count(store, Vote) == 0
    await voter.say("2")
    assert await _count(store, Vote) == 1


async def test_a_vote_for_an_idea_erased_meanwhile_is_answered(
    engine: Engine, store: Store
) -> None:
    await _ideas(engine, 2)
    voter = Person(engine, "late")
    await voter.join()
    await voter.say("vote")
    shown = int(voter.choices[0].split(":")[1])
    async with store.transaction() as unit:
        await unit.moderation.erase(shown)
    await voter.say("1")
    assert voter.keys[0] == "vote_gone" and voter.keys[-1] == "vote_card"
    assert await _count(store, Vote) == 0


@pytest.mark.parametrize(
    ("words", "key"),
    [
        (("START", "/start", "Start", "/START"), "menu"),
        (("HELP", "/help", "help", "/Help"), "help"),
        (("VOTE", "/vote", "Vote"), "vote_done"),
        (("COMMENT", "/comment", "comment"), "comment_none"),
        (("MYDATA", "/mydata", "MyData"), "mydata"),
        (("IDEA", "/idea", "Idea"), "ask_idea"),
        (("FORGET", "/forget", "Forget"), "forget_ask"),
    ],
)
async def test_every_command_word_in_any_case_with_or_without_slash(
    engine: Engine, words: tuple[str, ...], key: str
) -> None:
    person = Person(engine, f"words-{key}")
    await person.join()
    for word in words:
        await person.say("skip")  # back to the menu from wherever the last word left us
        await person.say(word)
        assert person.keys[0] == key, word  # then the menu, after an action


@pytest.mark.parametrize("word", ["SKIP", "/skip", "Skip", "skip"])
async def test_skip_in_any_form_skips_a_gateway_question(engine: Engine, word: str) -> None:
    person = Person(engine, f"skipper-{word}")
    await person.say("start")
    await person.say("/YES")
    await person.say(word)
    assert person.keys == ["gateway:region"]


@pytest.mark.parametrize(("word", "key"), [("YES", "refused"), ("/no", "refused")])
async def test_yes_and_no_work_with_a_slash(engine: Engine, word: str, key: str) -> None:
    person = Person(engine, f"yn-{word}")
    await person.say("start")
    await person.say("/no" if word == "/no" else "NO")
    assert person.keys == [key]
    await person.say("/Yes")
    assert person.keys == ["gateway:role"]


async def test_text_over_the_limit_is_refused_at_every_step_and_nothing_is_kept(
    engine: Engine, store: Store
) -> None:
    person = Person(engine, "wordy")
    await person.say("start")
    await person.say("x" * 2001)  # at the consent question
    assert person.keys == ["too_long"]
    await person.join()
    await person.say("idea")
    assert person.keys == ["ask_idea"]
    before = await _count(store, ProcessedMessage)
    await person.say("Physio " * 300)  # 2,100 characters at the "what is your idea" step
    assert person.keys == ["too_long"] and "2,100" in person.text
    assert await _count(store, ProcessedMessage) == before
    assert await _count(store, Contribution) == 0
    exactly = "A" + "b" * 1999
    await person.say(exactly)  # the idea step is still open, and 2,000 is allowed
    assert person.keys[0] == "idea_saved"
    async with store.reader() as unit:
        assert len(await unit.session.scalar(select(Contribution.text))) == 2000


@pytest.mark.parametrize("typed", ["2", "1.", "??", "\U0001f44d", "IDEA 3"])
async def test_an_idea_without_a_letter_is_not_stored_and_the_step_stays(
    engine: Engine, store: Store, typed: str
) -> None:
    """At "What is your idea?" someone types "2", meaning the menu's second choice: it
    is not stored as idea 2. They are asked for words, and their next words are the
    idea; words in any script count."""
    person = Person(engine, f"no-words-{typed}")
    await person.join()
    if not typed.startswith("IDEA"):
        await person.say("IDEA")
        assert person.keys == ["ask_idea"]
    await person.say(typed)
    assert person.keys == ["idea_in_words"]
    assert "in words" in person.text
    assert await _count(store, Contribution) == 0
    await person.say("Podiatry clinics in libraries" if typed != "??" else "فيزيو في كل عيادة")
    assert person.keys[0] == "idea_saved"
    assert await _count(store, Contribution) == 1


async def test_empty_messages_answer_without_moving_the_conversation(
    engine: Engine, store: Store
) -> None:
    person = Person(engine, "quiet")
    await person.say("start")
    await person.say("yes")
    for blank in ("", "   ", "\n\t", "\x00\x07"):
        await person.say(blank)
        assert person.keys == ["empty"], repr(blank)
    await person.say("skip")
    assert person.keys == ["gateway:region"]  # the role question was still the open one
    async with store.reader() as unit:
        row = await unit.session.scalar(select(Participant))
    assert row.answers == {"role": None}


async def test_unknown_commands_and_choices_are_answered_at_every_step(
    engine: Engine, store: Store
) -> None:
    person = Person(engine, "lost")
    await person.join()
    await person.say("/launch")
    assert person.keys == ["unknown_command"]
    await person.say("idea")
    await person.say("/frobnicate")  # a slashed word is a command, not the idea
    assert person.keys == ["unknown_command"]
    assert await _count(store, Contribution) == 0
    await person.press("nonsense:payload")
    assert person.keys == ["unknown_command"]


@pytest.mark.parametrize(
    "idea",
    [
        "Help older people stay at home with more OTs",
        "Start physio the day after a stroke",
        "Vote counting should be published for every trust",
        "Forget the paperwork, give physios time with patients",
    ],
)
async def test_an_idea_that_starts_with_a_command_word_is_kept_as_the_idea(
    engine: Engine, store: Store, idea: str
) -> None:
    person = Person(engine, f"typist-{idea[:5]}")
    await person.join()
    await person.say("IDEA")
    assert person.keys == ["ask_idea"]
    await person.say(idea)  # asked for an idea: these words are the idea
    assert person.keys[0] == "idea_saved"
    async with store.reader() as unit:
        assert await unit.session.scalar(select(Contribution.text)) == idea


@pytest.mark.parametrize(
    "idea", ["Help carers get respite breaks", "Start screening for falls at 65"]
)
async def test_at_the_menu_help_and_start_followed_by_words_are_an_idea(
    engine: Engine, store: Store, idea: str
) -> None:
    person = Person(engine, f"menu-{idea[:5]}")
    await person.join()
    await person.say(idea)
    assert person.keys[0] == "idea_saved"
    await person.say("no")
    await person.say("help")
    assert person.keys == ["help"]
    await person.say("/help me")  # with a slash it is always the command
    assert person.keys == ["help"]


async def test_idea_and_comment_words_keep_their_meaning_when_typing(
    engine: Engine, store: Store
) -> None:
    person = Person(engine, "prefixed")
    await person.join()
    await person.say("idea")
    await person.say("idea Hydrotherapy in every trust")
    assert person.keys[0] == "idea_saved"
    async with store.reader() as unit:
        assert await unit.session.scalar(select(Contribution.text)) == (
            "Hydrotherapy in every trust"
        )


async def test_ideas_entered_on_someones_behalf_are_marked_assisted(
    engine: Engine, store: Store
) -> None:
    from bot.channels.console import ConsoleSession
    from bot.delivery import Delivery
    from bot.metrics import Metrics

    worker = ConsoleSession(Delivery(engine, Metrics()), "paper-form-17", assisted=True)
    for line in ("start", "yes", "skip", "skip", "skip"):
        await worker.say(line)
    replies = await worker.say("idea A walk-in physio clinic in the library")
    assert replies[0].key == "idea_saved"
    await worker.say("no")
    await Person(engine, "self-typed").join()
    await Person(engine, "self-typed").say("idea Longer GP appointments")
    async with store.reader() as unit:
        rows = (await unit.session.execute(select(Contribution.text, Contribution.assisted))).all()
    assert sorted(rows) == [
        ("A walk-in physio clinic in the library", True),
        ("Longer GP appointments", False),
    ]
