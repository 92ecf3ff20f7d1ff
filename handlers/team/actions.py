"""What moderators and admins do, each in the same transaction as the message's claim
and an audit entry (who, what, when): approve, hide or amend held contributions, merge
similar ideas (telling authors who asked for news), dismiss a suggested pair, rename
a theme, move an idea to a theme, and erase a contribution or a person.

Every action can come from a button (payload "merge:12:7") or be typed (/merge 12 7).
"""

from __future__ import annotations

import re

from handlers.catalogue import Catalogue
from handlers.dead_letters import forget_kept_messages
from handlers.insights.text import plural
from handlers.team.context import TeamContext
from handlers.types import Choice, Reply
from storage.moderation import Amendment
from storage.records import ContributionRecord
from storage.unit import Unit

_PSEUDONYM = re.compile(r"^[0-9a-f]{8,64}$")
MAX_LABEL = 200


def _numbers(ctx: TeamContext, count: int) -> list[int] | None:
    parts = ctx.request.arguments[:count]
    if len(parts) < count or not all(part.lstrip("#").isdigit() for part in parts):
        return None
    return [int(part.lstrip("#")) for part in parts]


def _unit(ctx: TeamContext) -> Unit:
    """The open transaction: every action is run with one."""
    assert ctx.unit is not None
    return ctx.unit


def _usage(ctx: TeamContext, usage: str) -> list[Reply]:
    return [ctx.say("usage", usage=usage)]


async def _contribution(ctx: TeamContext, number: int) -> ContributionRecord | None:
    return await _unit(ctx).moderation.get_for_update(number)


async def _set_status(ctx: TeamContext, status: str, done_key: str, action: str) -> list[Reply]:
    numbers = _numbers(ctx, 1)
    if numbers is None:
        return _usage(ctx, f"/{ctx.request.word} NUMBER")
    item = await _contribution(ctx, numbers[0])
    if item is None:
        return [ctx.say("no_such", id=numbers[0])]
    await _unit(ctx).contributions.set_status(item.id, status)
    ctx.audit(
        action,
        f"contribution:{item.id}",
        {"from": item.status, "to": status, "reason": item.moderation_reason},
    )
    return [ctx.say(done_key, id=item.id)]


async def approve(ctx: TeamContext) -> list[Reply]:
    return await _set_status(ctx, "visible", "approved", "approve")


async def hide(ctx: TeamContext) -> list[Reply]:
    return await _set_status(ctx, "hidden", "hidden", "hide")


async def amend(ctx: TeamContext) -> list[Reply]:
    numbers = _numbers(ctx, 1)
    if numbers is None:
        return _usage(ctx, "/amend NUMBER new text")
    item = await _contribution(ctx, numbers[0])
    if item is None:
        return [ctx.say("no_such", id=numbers[0])]
    new_text = ctx.request.rest.split(None, 1)[1].strip() if len(ctx.request.arguments) > 1 else ""
    if ctx.request.pressed or not new_text:
        return [ctx.say("amend_how", id=item.id, text=item.text)]
    enriched = ctx.deps.enricher.enrich(new_text)
    original = await _unit(ctx).moderation.amend(
        item.id,
        Amendment(
            text=enriched.text,
            language=enriched.language,
            polarity=enriched.polarity,
            subjectivity=enriched.subjectivity,
            label=enriched.label,
            redactions=enriched.redactions,
        ),
    )
    ctx.audit(
        "amend",
        f"contribution:{item.id}",
        {
            "original": original,
            "amended": enriched.text,
            "from": item.status,
            "reason": item.moderation_reason,
        },
    )
    return [ctx.say("amended", id=item.id)]


async def merge(ctx: TeamContext) -> list[Reply]:
    numbers = _numbers(ctx, 2)
    if numbers is None:
        return _usage(ctx, "/merge DUPLICATE INTO (e.g. /merge 12 7 keeps idea 7)")
    duplicate_id, into_id = numbers
    if duplicate_id == into_id:
        return [ctx.say("merge_same")]
    duplicate = await _contribution(ctx, duplicate_id)
    into = await _contribution(ctx, into_id)
    for number, idea in ((duplicate_id, duplicate), (into_id, into)):
        if idea is None:
            return [ctx.say("no_such", id=number)]
        if idea.kind != "idea":
            return [ctx.say("not_an_idea", id=number)]
        if idea.duplicate_of is not None:
            return [ctx.say("already_merged", id=number, into=idea.duplicate_of)]
    assert duplicate is not None and into is not None  # checked in the loop above
    if duplicate.question_id != into.question_id:
        return [ctx.say("merge_question", a=duplicate_id, b=into_id)]
    result = await _unit(ctx).moderation.merge(duplicate_id, into_id)
    await _unit(ctx).similar.decide_pair(
        duplicate_id, into_id, "merged", ctx.actor, ctx.now, question_id=into.question_id
    )
    told = await _tell_authors(ctx, result.duplicate, result.survivor)
    ctx.audit(
        "merge",
        f"contribution:{duplicate_id}",
        {
            "into": into_id,
            "votes_moved": result.moved,
            "votes_dropped": result.dropped,
            "comments_moved": result.comments_moved,
            "authors_told": told,
        },
    )
    return [
        ctx.say(
            "merge_done",
            duplicate=duplicate_id,
            into=into_id,
            moved=plural(result.moved, "vote"),
            dropped=result.dropped,
            agree=result.survivor.agree_count,
            disagree=result.survivor.disagree_count,
            told=told,
        )
    ]


async def _tell_authors(
    ctx: TeamContext, duplicate: ContributionRecord, survivor: ContributionRecord
) -> int:
    """Queue news for the authors who asked for it; the message names no one."""
    unit = _unit(ctx)
    news: dict[int, tuple[str, dict]] = {
        survivor.participant_id: ("merged_into_yours", {"number": survivor.shown_number}),
        # Written second: an author of both ideas hears about the one that went.
        duplicate.participant_id: (
            "merged_yours",
            {
                "number": duplicate.shown_number,
                "into": survivor.shown_number,
                "text": survivor.text,
            },
        ),
    }
    told = 0
    for participant_id, (key, params) in news.items():
        person = await unit.participants.get(participant_id)
        if person is None or not person.followups or person.opted_out or person.unreachable:
            continue
        if await unit.participants.contact(participant_id) is None:
            continue
        text = Catalogue(person.language).text(key, **params)
        await unit.outbox.enqueue(participant_id, person.channel, text, ctx.now)
        told += 1
    return told


async def dismiss(ctx: TeamContext) -> list[Reply]:
    numbers = _numbers(ctx, 2)
    if numbers is None:
        return _usage(ctx, "/dismiss IDEA OTHER")
    first, second = numbers
    if first == second:
        return [ctx.say("dismiss_same")]
    ideas = [await _contribution(ctx, number) for number in numbers]
    for number, idea in zip(numbers, ideas, strict=True):
        if idea is None:
            return [ctx.say("no_such", id=number)]
        if idea.kind != "idea":
            return [ctx.say("not_an_idea", id=number)]
    assert ideas[0] is not None  # checked in the loop above
    await _unit(ctx).similar.decide_pair(
        first, second, "dismissed", ctx.actor, ctx.now, question_id=ideas[0].question_id
    )
    ctx.audit("dismiss_similar", f"contribution:{min(numbers)}", {"other": max(numbers)})
    return [ctx.say("dismissed", a=first, b=second)]


async def rename(ctx: TeamContext) -> list[Reply]:
    numbers = _numbers(ctx, 1)
    if numbers is None:
        return _usage(ctx, "/rename THEME new name")
    number = numbers[0]
    if await _unit(ctx).themes.theme_run_of(number) is None:
        return [ctx.say("no_theme", number=number)]
    label = " ".join(ctx.request.rest.split()[1:])[:MAX_LABEL]
    if ctx.request.pressed or not label:
        return [ctx.say("rename_how", number=number)]
    previous = await _unit(ctx).themes.rename(number, label, ctx.actor, ctx.now)
    ctx.audit("rename_theme", f"theme:{number}", {"from": previous, "to": label})
    return [ctx.say("renamed", number=number, label=label)]


async def move(ctx: TeamContext) -> list[Reply]:
    numbers = _numbers(ctx, 1)
    if numbers is None:
        return _usage(ctx, "/move IDEA THEME")
    idea = await _contribution(ctx, numbers[0])
    if idea is None:
        return [ctx.say("no_such", id=numbers[0])]
    if idea.kind != "idea":
        return [ctx.say("not_an_idea", id=idea.id)]
    run = await _unit(ctx).themes.current_run("themes", idea.question_id)
    if run is None:
        return [ctx.say("no_themes_yet", id=idea.id)]
    themes = {theme.number: theme for theme in await _unit(ctx).themes.themes_of(run.id)}
    target = _numbers(ctx, 2)
    if target is None:
        choices = tuple(
            Choice(f"{theme.number}: {theme.label}"[:60], f"move:{idea.id}:{theme.number}")
            for theme in themes.values()
        )
        return [ctx.say("move_which", id=idea.id, choices=choices)]
    number = target[1]
    if number not in themes:
        other_run = await _unit(ctx).themes.theme_run_of(number)
        key = "move_question" if other_run is not None else "no_theme"
        return [ctx.say(key, number=number, id=idea.id)]
    before = await _unit(ctx).themes.theme_of(run.id, idea.id)
    await _unit(ctx).themes.move(idea.id, number, idea.label, ctx.actor, ctx.now)
    ctx.audit("move_idea", f"contribution:{idea.id}", {"from_theme": before, "to_theme": number})
    return [ctx.say("moved", id=idea.id, number=number, label=themes[number].label)]


async def erase(ctx: TeamContext) -> list[Reply]:
    """/erase NUMBER (a contribution) or /erase person PSEUDONYM-PREFIX; asks first."""
    parts = ctx.request.arguments
    confirmed = bool(parts) and parts[-1] in ("yes", "confirm")
    cancelled = bool(parts) and parts[-1] == "no"
    target = parts[:-1] if confirmed or cancelled else parts
    if cancelled:
        return [ctx.say("erase_cancelled")]
    if len(target) == 2 and target[0] == "person" and _PSEUDONYM.match(target[1]):
        return await _erase_person(ctx, target[1], confirmed)
    if len(target) == 1 and target[0].lstrip("#").isdigit():
        return await _erase_item(ctx, int(target[0].lstrip("#")), confirmed)
    return _usage(ctx, "/erase NUMBER, or /erase person PSEUDONYM (the first 8+ characters)")


def _confirm(ctx: TeamContext, what: str, payload: str) -> list[Reply]:
    choices = (Choice("Erase", f"{payload}:yes"), Choice("Cancel", f"{payload}:no"))
    return [ctx.say("erase_ask", what=what, choices=choices)]


async def _erase_item(ctx: TeamContext, number: int, confirmed: bool) -> list[Reply]:
    item = await _contribution(ctx, number)
    if item is None:
        return [ctx.say("no_such", id=number)]
    if not confirmed:
        return _confirm(ctx, f"{item.kind} #{number} and its votes", f"erase:{number}")
    erased = await _unit(ctx).moderation.erase(number)
    assert erased is not None  # the row is locked (get_for_update above)
    ctx.audit(
        "erase",
        f"contribution:{number}",
        {"kind": item.kind, "votes": erased.votes, "comments_detached": erased.comments_detached},
    )
    return [ctx.say("erased_item", id=number, votes=erased.votes)]


async def _erase_person(ctx: TeamContext, prefix: str, confirmed: bool) -> list[Reply]:
    found = await _unit(ctx).moderation.find_by_pseudonym(prefix)
    if not found:
        return [ctx.say("no_person", prefix=prefix)]
    if len(found) > 1:
        return [ctx.say("ambiguous_person", prefix=prefix)]
    participant_id, pseudonym = found[0]
    if not confirmed:
        short = pseudonym[:16]
        return _confirm(ctx, f"everything of participant {short}", f"erase:person:{short}")
    counts = await _unit(ctx).participants.erase(participant_id)
    deps = ctx.deps
    kept = await forget_kept_messages(
        _unit(ctx),
        deps.contacts,
        lambda channel, sender: deps.pseudonym(channel, sender) == pseudonym,
    )
    ctx.audit(
        "erase_person",
        "participant",
        {
            "pseudonym_prefix": pseudonym[:8],
            "contributions": counts.contributions,
            "votes": counts.votes,
            "kept_messages": kept,
        },
    )
    return [ctx.say("erased_person", contributions=counts.contributions, votes=counts.votes)]


ACTIONS = {
    "approve": approve,
    "hide": hide,
    "amend": amend,
    "merge": merge,
    "dismiss": dismiss,
    "rename": rename,
    "move": move,
    "erase": erase,
}
