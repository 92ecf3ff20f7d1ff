"""Team commands name ideas as participants see them: `/hide 6` is idea 6 (its number,
as in the participant's view and the export's idea_number), not the sixth row; a
comment, which has no idea number, is `c` and its id; `#6`, the old row-id form, is
refused rather than guessed. Replies, reports and buttons' labels say "idea 6"; buttons
carry row ids, so one sent before keeps meaning its item."""

from __future__ import annotations

from sqlalchemy import select

from bot.jobs import JobRunner
from handlers.engine import Engine
from handlers.types import Reply
from storage.models import Contribution
from tests.insights_data import (
    ADMIN,
    IDEAS,
    MODERATOR,
    RecordingChannel,
    people_of,
    services_of,
    team_member,
)

I1, I4 = IDEAS["I1"], IDEAS["I4"]
NEW_IDEA = "Physios in every GP surgery would cut waiting lists"  # like I1


def _payloads(reply: Reply) -> list[str]:
    return [choice.payload for choice in reply.choices]


async def _rows(engine: Engine) -> dict[int, Contribution]:
    async with engine.store.reader() as unit:
        return {c.id: c for c in await unit.session.scalars(select(Contribution))}


async def _shifted(engine: Engine) -> tuple[int, int, int]:
    """A comment then an idea, so the new idea's number is not its row id: (the
    comment's id, the idea's id, the idea's number)."""
    people = people_of(engine)
    await people["p2"].say(f"/comment {I1} Also in walk-in centres")
    await people["p3"].say(f"IDEA {NEW_IDEA}")
    assert people["p3"].keys == ["alike_ask"]
    await people["p3"].press("alike:new")  # "Mine is different"
    rows = await _rows(engine)
    comment = next(c for c in rows.values() if c.kind == "comment")
    idea = next(c for c in rows.values() if c.text == NEW_IDEA)
    assert idea.idea_number != idea.id and comment.id == idea.idea_number
    return comment.id, idea.id, idea.idea_number


async def test_typed_commands_take_the_idea_number_participants_see(team_engine: Engine) -> None:
    comment, idea, number = await _shifted(team_engine)
    moderator = team_member(team_engine, MODERATOR)

    await moderator.say(f"/hide {number}")
    assert moderator.text == f"Hidden idea {number}: no one will be shown it."
    rows = await _rows(team_engine)
    assert rows[idea].status == "hidden" and rows[comment].status == "visible"

    await moderator.say(f"/approve {number}")
    assert moderator.text == f"Approved idea {number}: voters can see it now."
    await moderator.say(f"/hide #{comment}")  # the old row-id form: refused, not guessed
    assert moderator.keys == ["team:usage"] and "c22" in moderator.text
    await moderator.say(f"/hide c{comment}")
    assert moderator.text == f"Hidden comment c{comment}: no one will be shown it."
    await moderator.say(f"/hide c{idea}")  # an idea's row id is not a comment
    assert moderator.text == f"There is no comment c{idea}."
    await moderator.say(f"/approve {idea}")  # no idea has that number
    assert moderator.text == f"There is no idea {idea}."
    rows = await _rows(team_engine)
    assert rows[comment].status == "hidden" and rows[idea].status == "visible"

    await moderator.say(f"/amend {number}")
    assert f"Send /amend {number} followed by the new text" in moderator.text
    await moderator.say(f"/merge c{comment} {I1}")
    assert moderator.text == f"comment c{comment} is not an idea that can be merged or moved."
    await moderator.say(f"/merge {number} {I1}")
    assert moderator.text.startswith(f"Merged idea {number} into idea {I1}:")
    assert (await _rows(team_engine))[idea].duplicate_of == I1
    await moderator.say(f"/merge {number} {I1}")
    assert moderator.text == f"idea {number} is already merged into idea {I1}."

    admin = team_member(team_engine, ADMIN)
    await admin.say(f"/erase c{comment}")
    assert "Erase comment c" in admin.text
    assert admin.choices == [f"erase:{comment}:yes", f"erase:{comment}:no"]  # row ids
    await admin.press(f"erase:{comment}:yes")
    assert admin.text == f"Erased comment c{comment} and the 0 votes on it."


async def test_reports_and_buttons_name_ideas_by_number(team_engine: Engine) -> None:
    _comment, idea, number = await _shifted(team_engine)
    people = people_of(team_engine)
    await people["p2"].say(f"/comment {I4} Dr Smith on ward 5 was rude to my mother")
    moderator = team_member(team_engine, MODERATOR)
    await moderator.say("/pending")
    held = (await _rows(team_engine)).values()
    held_comment = next(c for c in held if c.kind == "comment" and c.status == "pending")
    assert (
        f"comment c{held_comment.id}, held for named person, via sms, on idea {I4}:"
        in moderator.text
    )
    await moderator.say("/similar")
    assert moderator.keys == ["team:working_similar"]
    channel = RecordingChannel("telegram")
    assert await JobRunner(services_of(team_engine), {"telegram": channel}).run_until_idle() == 1
    ((_address, replies),) = channel.sent
    pair = next(reply for reply in replies if f"merge:{idea}:{I1}" in _payloads(reply))
    assert f"idea {number} (+" in pair.text and f"idea {I1} (+" in pair.text
    labels = [choice.label for choice in pair.choices]
    assert f"Merge idea {number} into idea {I1}" in labels
    await moderator.press(f"merge:{idea}:{I1}")  # the button
    assert moderator.text.startswith(f"Merged idea {number} into idea {I1}:")
