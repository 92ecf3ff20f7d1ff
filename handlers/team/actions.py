"""What moderators and admins do, each in the same transaction as the message's claim
and an audit entry (who, what, when): approve, hide or amend held contributions, merge
similar ideas (telling authors who asked for news), dismiss a suggested pair, rename
a theme, move an idea to a theme, and erase a contribution or a person.

Every action can come from a button (payload "merge:12:7", row ids) or be typed
(/merge 12 7: idea numbers, as participants see them; a comment as c22), see
handlers/team/targets.py.
"""

from __future__ import annotations

import re

from handlers.catalogue import Catalogue
from handlers.dead_letters import forget_kept_messages
from handlers.insights.text import plural
from handlers.team.context import TeamContext
from handlers.team.targets import Target, find_target, name_of, parse_target, typed_as
from handlers.types import Choice, Reply
from storage.moderation import Amendment
from storage.records import ContributionRecord
from storage.unit import Unit

_PSEUDONYM = re.compile(r"^[0-9a-f]{8,64}$")
MAX_LABEL = 200


# How a typed command names an idea or a comment, for the usage lines.
ITEM = "IDEA (its number, e.g. 7; a comment: c and its id, e.g. c22)"


def _numbers(ctx: TeamContext, count: int) -> list[int] | None:
    """Theme numbers (/rename THEME, /move IDEA THEME)."""
    parts = ctx.request.arguments[:count]
    if len(parts) < count or not all(part.isdigit() for part in parts):
        return None
    return [int(part) for part in parts]


def _targets(ctx: TeamContext, count: int) -> list[Target] | None:
    """The first `count` words as ideas or comments; None if any names neither."""
    parts = ctx.request.arguments[:count]
    targets = [parse_target(part, pressed=ctx.request.pressed) for part in parts]
    if len(targets) < count or None in targets:
        return None
    return [target for target in targets if target is not None]


def _unit(ctx: TeamContext) -> Unit:
    """The open transaction: every action is run with one."""
    assert ctx.unit is not None
    return ctx.unit


def _usage(ctx: TeamContext, usage: str) -> list[Reply]:
    return [ctx.say("usage", usage=usage)]


async def _found(ctx: TeamContext, target: Target) -> ContributionRecord | Reply:
    """The contribution named, locked; or the reply that there is none."""
    item = await find_target(_unit(ctx), target)
    return item if item is not None else ctx.say("no_such", name=target.name)


async def _set_status(ctx: TeamContext, status: str, done_key: str, action: str) -> list[Reply]:
    targets = _targets(ctx, 1)
    if targets is None:
        return _usage(ctx, f"/{ctx.request.word} {ITEM}")
    item = await _found(ctx, targets[0])
    if isinstance(item, Reply):
        return [item]
    await _unit(ctx).contributions.set_status(item.id, status)
    ctx.audit(
        action,
        f"contribution:{item.id}",
        {"from": item.status, "to": status, "reason": item.moderation_reason},
    )
    return [ctx.say(done_key, name=name_of(item))]


async def approve(ctx: TeamContext) -> list[Reply]:
    return await _set_status(ctx, "visible", "approved", "approve")


async def hide(ctx: TeamContext) -> list[Reply]:
    return await _set_status(ctx, "hidden", "hidden", "hide")


async def amend(ctx: TeamContext) -> list[Reply]:
    targets = _targets(ctx, 1)
    if targets is None:
        return _usage(ctx, f"/amend {ITEM} new text")
    item = await _found(ctx, targets[0])
    if isinstance(item, Reply):
        return [item]
    new_text = ctx.request.rest.split(None, 1)[1].strip() if len(ctx.request.arguments) > 1 else ""
    if ctx.request.pressed or not new_text:
        return [ctx.say("amend_how", typed=typed_as(item), text=item.text)]
    enriched = ctx.deps.enricher.enrich(new_text)
    original = await _unit(ctx).moderation.amend(
        item.id,
        Amendment(
            text=enriched.text,
            language=enriched.language,
            polarity=enriched.polarity,
            subjectivity=enriched.subjectivity,
            sentiment_confidence=enriched.confidence,
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
    return [ctx.say("amended", name=name_of(item))]


async def merge(ctx: TeamContext) -> list[Reply]:
    found = await _two_ideas(
        ctx, "/merge DUPLICATE INTO (idea numbers: /merge 12 7 keeps idea 7)", "merge_same"
    )
    if not isinstance(found, tuple):
        return found
    duplicate, into = found
    for idea in found:
        if idea.duplicate_of is not None:
            survivor = await _unit(ctx).contributions.get(idea.duplicate_of)
            into_name = name_of(survivor) if survivor else f"contribution {idea.duplicate_of}"
            return [ctx.say("already_merged", name=name_of(idea), into=into_name)]
    if duplicate.question_id != into.question_id:
        return [ctx.say("merge_question", a=name_of(duplicate), b=name_of(into))]
    duplicate_id, into_id = duplicate.id, into.id
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
            duplicate=name_of(duplicate),
            into=name_of(into),
            moved=plural(result.moved, "vote"),
            dropped=result.dropped,
            agree=result.survivor.agree_count,
            disagree=result.survivor.disagree_count,
            told=told,
        )
    ]


async def _two_ideas(
    ctx: TeamContext, usage: str, same_key: str
) -> tuple[ContributionRecord, ContributionRecord] | list[Reply]:
    """The two different ideas a command names, locked; or what to answer instead."""
    targets = _targets(ctx, 2)
    if targets is None:
        return _usage(ctx, usage)
    if targets[0] == targets[1]:
        return [ctx.say(same_key)]
    ideas: list[ContributionRecord] = []
    for target in targets:
        item = await _found(ctx, target)
        if isinstance(item, Reply):
            return [item]
        if item.kind != "idea":
            return [ctx.say("not_an_idea", name=name_of(item))]
        ideas.append(item)
    if ideas[0].id == ideas[1].id:
        return [ctx.say(same_key)]
    return ideas[0], ideas[1]


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
    found = await _two_ideas(ctx, "/dismiss IDEA OTHER (idea numbers)", "dismiss_same")
    if not isinstance(found, tuple):
        return found
    first, second = found
    await _unit(ctx).similar.decide_pair(
        first.id, second.id, "dismissed", ctx.actor, ctx.now, question_id=first.question_id
    )
    low, high = sorted((first.id, second.id))
    ctx.audit("dismiss_similar", f"contribution:{low}", {"other": high})
    return [ctx.say("dismissed", a=name_of(first), b=name_of(second))]


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
    targets = _targets(ctx, 1)
    if targets is None:
        return _usage(ctx, "/move IDEA THEME (the idea's number)")
    idea = await _found(ctx, targets[0])
    if isinstance(idea, Reply):
        return [idea]
    if idea.kind != "idea":
        return [ctx.say("not_an_idea", name=name_of(idea))]
    run = await _unit(ctx).themes.current_run("themes", idea.question_id)
    if run is None:
        return [ctx.say("no_themes_yet", name=name_of(idea))]
    themes = {theme.number: theme for theme in await _unit(ctx).themes.themes_of(run.id)}
    theme_number = _numbers(ctx, 2) if len(ctx.request.arguments) > 1 else None
    if theme_number is None:
        choices = tuple(
            Choice(f"{theme.number}: {theme.label}"[:60], f"move:{idea.id}:{theme.number}")
            for theme in themes.values()
        )
        return [ctx.say("move_which", name=name_of(idea), choices=choices)]
    number = theme_number[1]
    if number not in themes:
        other_run = await _unit(ctx).themes.theme_run_of(number)
        key = "move_question" if other_run is not None else "no_theme"
        return [ctx.say(key, number=number, name=name_of(idea))]
    before = await _unit(ctx).themes.theme_of(run.id, idea.id)
    await _unit(ctx).themes.move(idea.id, number, idea.label, ctx.actor, ctx.now)
    ctx.audit("move_idea", f"contribution:{idea.id}", {"from_theme": before, "to_theme": number})
    return [ctx.say("moved", name=name_of(idea), number=number, label=themes[number].label)]


async def erase(ctx: TeamContext) -> list[Reply]:
    """/erase IDEA (or cID, a comment) or /erase person PSEUDONYM-PREFIX; asks first."""
    parts = ctx.request.arguments
    confirmed = bool(parts) and parts[-1] in ("yes", "confirm")
    cancelled = bool(parts) and parts[-1] == "no"
    target = parts[:-1] if confirmed or cancelled else parts
    if cancelled:
        return [ctx.say("erase_cancelled")]
    if len(target) == 2 and target[0] == "person" and _PSEUDONYM.match(target[1]):
        return await _erase_person(ctx, target[1], confirmed)
    item = parse_target(target[0], pressed=ctx.request.pressed) if len(target) == 1 else None
    if item is not None:
        return await _erase_item(ctx, item, confirmed)
    return _usage(ctx, f"/erase {ITEM}, or /erase person PSEUDONYM (the first 8+ characters)")


def _confirm(ctx: TeamContext, what: str, payload: str) -> list[Reply]:
    choices = (Choice("Erase", f"{payload}:yes"), Choice("Cancel", f"{payload}:no"))
    return [ctx.say("erase_ask", what=what, choices=choices)]


async def _erase_item(ctx: TeamContext, target: Target, confirmed: bool) -> list[Reply]:
    item = await _found(ctx, target)
    if isinstance(item, Reply):
        return [item]
    if not confirmed:  # the buttons carry the row id
        return _confirm(ctx, f"{name_of(item)} and its votes", f"erase:{item.id}")
    erased = await _unit(ctx).moderation.erase(item.id)
    assert erased is not None  # the row is locked (get_for_update above)
    ctx.audit(
        "erase",
        f"contribution:{item.id}",
        {"kind": item.kind, "votes": erased.votes, "comments_detached": erased.comments_detached},
    )
    return [ctx.say("erased_item", name=name_of(item), votes=erased.votes)]


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
