"""Sharing ideas and comments, and the one-time offer of news about one's ideas."""

from __future__ import annotations

from dataclasses import replace

from handlers.context import Context
from handlers.flows.menu import show_menu
from handlers.limits import contribution_refusal
from handlers.types import Choice, Reply
from storage.records import ContributionRecord, NewContribution

FOLLOWUP_YES, FOLLOWUP_NO = "followup:yes", "followup:no"


def question_choices(ctx: Context) -> tuple[Choice, ...]:
    return tuple(Choice(q.text, f"question:{q.key}") for q in ctx.open_questions())


async def ask_for_idea(ctx: Context) -> list[Reply]:
    questions = ctx.open_questions()
    if not questions:
        return await show_menu(ctx, intro="no_open_question")
    if len(questions) == 1:
        await ctx.set_state("idea", question=questions[0].key)
        return [ctx.say("ask_idea", question=questions[0].text)]
    await ctx.set_state("choose_question")
    return [ctx.say("ask_question", choices=question_choices(ctx))]


async def submit_idea(ctx: Context, text: str, *, question_key: str | None = None) -> list[Reply]:
    questions = ctx.open_questions()
    if question_key is None:
        if not questions:
            return await show_menu(ctx, intro="no_open_question")
        if len(questions) > 1:
            # Keep the (redacted) draft and its message id until a question is chosen.
            enriched = ctx.enricher.enrich(text)
            await ctx.set_state(
                "choose_question",
                draft=enriched.text,
                redactions=list(enriched.redactions),
                message_id=ctx.inbound.message_id,
            )
            return [ctx.say("ask_question", choices=question_choices(ctx))]
        question_key = questions[0].key
    if question_key not in {q.key for q in questions}:
        return await show_menu(ctx, intro="no_open_question")
    refusal = await contribution_refusal(ctx, "idea", text)  # a limit, or the same idea
    if refusal is not None:
        await ctx.set_state("menu")
        return [refusal]
    message_id = ctx.state.get("message_id") or ctx.inbound.message_id
    saved = await store_contribution(
        ctx,
        "idea",
        text,
        message_id,
        question_id=ctx.question_ids.get(question_key),
        earlier_redactions=tuple(ctx.state.get("redactions", ())),
    )
    first = (
        ctx.say("idea_pending")
        if saved.status != "visible"
        else ctx.say("idea_saved", number=saved.id)
    )
    if ctx.participant.followups is None:
        await ctx.set_state("followup")
        return [first, ctx.say("followup_ask", choices=followup_choices(ctx))]
    await ctx.set_state("menu")
    return [first]


async def choose_question(ctx: Context, question_key: str) -> list[Reply]:
    draft = ctx.state.get("draft")
    if draft:
        return await submit_idea(ctx, draft, question_key=question_key)
    question = next((q for q in ctx.open_questions() if q.key == question_key), None)
    if question is None:
        return await show_menu(ctx, intro="no_open_question")
    await ctx.set_state("idea", question=question.key)
    return [ctx.say("ask_idea", question=question.text)]


async def ask_for_comment(ctx: Context, idea: ContributionRecord) -> list[Reply]:
    await ctx.set_state("comment", idea=idea.id)
    return [replace(ctx.say("comment_ask", number=idea.id, text=idea.text), quote=idea.text)]


async def submit_comment(ctx: Context, idea_id: int, text: str) -> list[Reply]:
    idea = await ctx.unit.contributions.get(idea_id)
    if idea is None or idea.kind != "idea" or idea.status != "visible":
        return await show_menu(ctx, intro="vote_gone")
    refusal = await contribution_refusal(ctx, "comment")
    if refusal is not None:
        await ctx.set_state("menu")
        return [refusal]
    saved = await store_contribution(
        ctx,
        "comment",
        text,
        ctx.inbound.message_id,
        question_id=idea.question_id,
        parent_id=idea.id,
    )
    await ctx.set_state("menu")
    if saved.status != "visible":
        return [ctx.say("comment_pending")]
    return [ctx.say("comment_saved", number=idea.id)]


def followup_choices(ctx: Context) -> tuple[Choice, ...]:
    return (Choice(ctx.label("yes"), FOLLOWUP_YES), Choice(ctx.label("no"), FOLLOWUP_NO))


async def answer_followup(ctx: Context, wanted: bool) -> list[Reply]:
    if wanted:
        # The only raw address Chorus keeps, encrypted, and only because they asked.
        await ctx.unit.participants.save_contact(
            ctx.participant.id,
            ctx.inbound.channel,
            ctx.contacts.encrypt(ctx.inbound.sender),
            ctx.now,
        )
    await ctx.update_participant(followups=wanted)
    await ctx.set_state("menu")
    return [ctx.say("followup_yes" if wanted else "followup_no")]


async def store_contribution(
    ctx: Context,
    kind: str,
    text: str,
    message_id: str,
    *,
    question_id: int | None,
    parent_id: int | None = None,
    earlier_redactions: tuple[str, ...] = (),
) -> ContributionRecord:
    """Enrich (redact, tag) and store an idea or comment in the open transaction.
    `earlier_redactions` are what was taken out of a draft redacted before it was kept."""
    enriched = ctx.enricher.enrich(text)
    if ctx.participant.language is None and enriched.language:
        await ctx.update_participant(language=enriched.language)
    return await ctx.unit.contributions.add(
        NewContribution(
            kind=kind,
            participant_id=ctx.participant.id,
            text=enriched.text,
            channel=ctx.inbound.channel,
            channel_message_id=message_id,
            label=enriched.label,
            created_at=ctx.now,
            question_id=question_id,
            parent_id=parent_id,
            language=enriched.language,
            polarity=enriched.polarity,
            subjectivity=enriched.subjectivity,
            redactions=(*earlier_redactions, *enriched.redactions),
            status="pending" if enriched.flagged else "visible",
            moderation_reason=enriched.flagged,
            assisted=ctx.inbound.assisted,
            profile=ctx.participant.profile,
        )
    )
