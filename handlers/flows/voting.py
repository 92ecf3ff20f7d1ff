"""Voting on ideas one at a time: 1 agree, 2 disagree, 3 skip, on every channel.

Ideas come least-voted first with some randomness, never the voter's own. A vote is
applied to the idea named in the button or in the conversation state, so an old button
pressed late still counts for the right idea.
"""

from __future__ import annotations

from handlers.context import Context, idea_read
from handlers.flows.menu import done, show_menu
from handlers.limits import contribution_refusal, refusal_reads
from handlers.types import Choice, Reply
from storage.effects import CastVote
from storage.records import ContributionRecord
from storage.votes import AGREE, DISAGREE, SKIP

VALUES = {"agree": AGREE, "disagree": DISAGREE, "skip": SKIP}


def vote_choices(ctx: Context, idea_id: int) -> tuple[Choice, ...]:
    return (
        Choice(
            f"\U0001f44d {ctx.label('vote_agree')}",
            f"vote:{idea_id}:agree",
            short=ctx.label("vote_agree"),
        ),
        Choice(
            f"\U0001f44e {ctx.label('vote_disagree')}",
            f"vote:{idea_id}:disagree",
            short=ctx.label("vote_disagree"),
        ),
        Choice(ctx.label("vote_skip"), f"vote:{idea_id}:skip", short=ctx.label("vote_skip")),
    )


def vote_card(ctx: Context, idea: ContributionRecord, *, replaces: bool = False) -> Reply:
    return Reply(
        ctx.catalogue.text("vote_card", number=idea.shown_number, text=idea.text),
        choices=vote_choices(ctx, idea.id),
        replaces_previous=replaces,
        key="vote_card",
        quote=idea.text,
    )


def next_idea(
    ctx: Context,
    *,
    lead: list[Reply] | None = None,
    exclude: tuple[int, ...] = (),
    replaces: bool = False,
) -> list[Reply]:
    replies = list(lead or [])
    idea = ctx.next_for_voting(exclude=exclude)
    if idea is None:
        return replies + done(ctx, ctx.say("vote_done"))
    ctx.set_state("vote", idea=idea.id)
    return replies + [vote_card(ctx, idea, replaces=replaces)]


def record_vote(ctx: Context, idea_id: int, value: int) -> str | None:
    """Cast (or change) a vote; returns the catalogue key of the reason it was refused
    ("vote_gone", "vote_own"), or None when it counted."""
    idea = ctx.idea(idea_id)
    if (
        idea is None
        or idea.kind != "idea"
        or idea.status != "visible"
        or idea.duplicate_of is not None
        or idea.question_id not in ctx.open_question_ids()
    ):
        return "vote_gone"
    if idea.participant_id == ctx.participant.id:
        return "vote_own"
    ctx.effect(
        CastVote(idea.id, value, channel=ctx.inbound.channel, profile=ctx.participant.profile,
                 now=ctx.now, question_id=idea.question_id)
    )  # fmt: skip
    return None


def cast(ctx: Context, idea_id: int, choice: str) -> list[Reply]:
    value = VALUES.get(choice)
    if value is None:
        return [ctx.say("vote_use_numbers")]
    # The limit's count, the idea and the next ideas to show, asked for together: one
    # round of loading (each round decides the message again from the start).
    exclude = (idea_id,)
    ctx.reads.need(*refusal_reads(ctx, "vote"), idea_read(idea_id), ctx.candidates_read(exclude))
    over = contribution_refusal(ctx, "vote")
    if over is not None:
        return [over]  # still on the same idea: they can vote on it in a minute
    refused = record_vote(ctx, idea_id, value)
    if refused:
        return next_idea(ctx, lead=[ctx.say(refused)], exclude=exclude)
    return next_idea(ctx, exclude=exclude, replaces=True)


def current_idea(ctx: Context) -> ContributionRecord | None:
    """The idea on screen while voting, if it can still be voted on."""
    if ctx.step != "vote":
        return None
    idea = ctx.idea(int(ctx.state.get("idea", 0)))
    return idea if idea and idea.status == "visible" else None


def leave(ctx: Context) -> list[Reply]:
    return show_menu(ctx)
