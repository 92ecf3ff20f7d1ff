"""How the team names ideas and comments: as participants see them.

An idea is named by its idea number ("idea 7", as in a participant's view and in the
`idea_number` column of exports), typed as `7`; a comment, which has no idea number, by
its row id with a `c` ("comment c22", the `id` column of exports), typed as `c22`. Row
ids are not accepted for ideas, nor `#7` (which used to mean a row id), so an old
habit cannot act on the wrong idea. Buttons carry row ids: Chorus made them, and an old
button keeps meaning the item it was made for.
"""

from __future__ import annotations

from dataclasses import dataclass

from handlers.insights.text import COMMENT_MARK, item_name
from storage.records import ContributionRecord
from storage.unit import Unit


@dataclass(frozen=True)
class Target:
    """What a command's word names: an idea number, a comment's id, or (a button) a row id."""

    idea_number: int | None = None
    comment_id: int | None = None
    row_id: int | None = None

    @property
    def name(self) -> str:
        if self.idea_number is not None:
            return item_name("idea", 0, self.idea_number)
        if self.comment_id is not None:
            return item_name("comment", self.comment_id, None)
        return f"contribution {self.row_id}"


def parse_target(word: str, *, pressed: bool) -> Target | None:
    """The target a typed word (`7`, `c22`) or a button's payload part (a row id) names."""
    word = word.strip().lower()
    if pressed:
        return Target(row_id=int(word)) if word.isdigit() else None
    if word.isdigit():
        return Target(idea_number=int(word))
    if word.startswith(COMMENT_MARK) and word[1:].isdigit():
        return Target(comment_id=int(word[1:]))
    return None


async def find_target(unit: Unit, target: Target) -> ContributionRecord | None:
    """The contribution named, locked for the action; None if there is no such idea or
    comment."""
    if target.idea_number is not None:
        idea = await unit.contributions.idea_by_number(target.idea_number)
        row_id = idea.id if idea is not None else None
    else:
        row_id = target.comment_id if target.comment_id is not None else target.row_id
    if row_id is None:
        return None
    item = await unit.moderation.get_for_update(row_id)
    if item is not None and target.comment_id is not None and item.kind != "comment":
        return None
    return item


def name_of(item: ContributionRecord) -> str:
    """ "idea 7" or "comment c22": how the team's replies name a contribution."""
    return item_name(item.kind, item.id, item.number)


def typed_as(item: ContributionRecord) -> str:
    """What to type to name it in a command: "7" or "c22"."""
    return str(item.shown_number) if item.kind == "idea" else f"{COMMENT_MARK}{item.id}"
