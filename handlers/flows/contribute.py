"""Sharing ideas and comments, and the one-time offer of news about one's ideas."""

from __future__ import annotations

from dataclasses import dataclass, replace

from handlers.context import Context
from handlers.flows.menu import show_menu
from handlers.limits import contribution_refusal
from handlers.types import Choice, Reply
from storage.effects import NEW_NUMBER, AddContribution, SaveContact
from storage.records import ContributionRecord, NewContribution

FOLLOWUP_YES, FOLLOWUP_NO = "followup:yes", "followup:no"


def question_choices(ctx: Context) -> tuple[Choice, ...]:
    return tuple(Choice(q.text, f"question:{q.key}") for q in ctx.open_questions())


def ask_for_idea(ctx: Context) -> list[Reply]:
    questions = ctx.open_questions()
    if not questions:
        return show_menu(ctx, intro="no_open_question")
    if len(questions) == 1:
        ctx.set_state("idea", question=questions[0].key)
        return [ctx.say("ask_idea", question=questions[0].text)]
    ctx.set_state("choose_question")
    return [ctx.say("ask_question", choices=question_choices(ctx))]


def submit_idea(ctx: Context, text: str, *, question_key: str | None = None) -> list[Reply]:
    questions = ctx.open_questions()
    if question_key is None:
        if not questions:
            return show_menu(ctx, intro="no_open_question")
        if len(questions) > 1:
            # Keep the (redacted) draft and its message id until a question is chosen.
            enriched = ctx.enrich(text)
            ctx.set_state(
                "choose_question",
                draft=enriched.text,
                redactions=list(enriched.redactions),
                message_id=ctx.inbound.message_id,
            )
            return [ctx.say("ask_question", choices=question_choices(ctx))]
        question_key = questions[0].key
    if question_key not in {q.key for q in questions}:
        return show_menu(ctx, intro="no_open_question")
    refusal = contribution_refusal(ctx, "idea", text)  # a limit, or the same idea
    if refusal is not None:
        ctx.set_state("menu")
        return [refusal]
    message_id = ctx.state.get("message_id") or ctx.inbound.message_id
    saved = store_contribution(
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
        else ctx.say("idea_saved", number=saved.shown_number)
    )
    if ctx.participant.followups is None:
        ctx.set_state("followup")
        return [first, ctx.say("followup_ask", choices=followup_choices(ctx))]
    ctx.set_state("menu")
    return [first]


def choose_question(ctx: Context, question_key: str) -> list[Reply]:
    draft = ctx.state.get("draft")
    if draft:
        return submit_idea(ctx, draft, question_key=question_key)
    question = next((q for q in ctx.open_questions() if q.key == question_key), None)
    if question is None:
        return show_menu(ctx, intro="no_open_question")
    ctx.set_state("idea", question=question.key)
    return [ctx.say("ask_idea", question=question.text)]


def ask_for_comment(ctx: Context, idea: ContributionRecord) -> list[Reply]:
    ctx.set_state("comment", idea=idea.id)
    ask = ctx.say("comment_ask", number=idea.shown_number, text=idea.text)
    return [replace(ask, quote=idea.text)]


def submit_comment(ctx: Context, idea_id: int, text: str) -> list[Reply]:
    idea = ctx.idea(idea_id)
    if idea is None or idea.kind != "idea" or idea.status != "visible":
        return show_menu(ctx, intro="vote_gone")
    refusal = contribution_refusal(ctx, "comment")
    if refusal is not None:
        ctx.set_state("menu")
        return [refusal]
    saved = store_contribution(
        ctx,
        "comment",
        text,
        ctx.inbound.message_id,
        question_id=idea.question_id,
        parent_id=idea.id,
    )
    ctx.set_state("menu")
    if saved.status != "visible":
        return [ctx.say("comment_pending")]
    return [ctx.say("comment_saved", number=idea.shown_number)]


def followup_choices(ctx: Context) -> tuple[Choice, ...]:
    return (Choice(ctx.label("yes"), FOLLOWUP_YES), Choice(ctx.label("no"), FOLLOWUP_NO))


def answer_followup(ctx: Context, wanted: bool) -> list[Reply]:
    if wanted:
        # The only raw address Chorus keeps, encrypted, and only because they asked.
        ctx.effect(
            SaveContact(ctx.inbound.channel, ctx.contacts.encrypt(ctx.inbound.sender), ctx.now)
        )
    ctx.update_participant(followups=wanted)
    ctx.set_state("menu")
    return [ctx.say("followup_yes" if wanted else "followup_no")]


def store_contribution(
    ctx: Context,
    kind: str,
    text: str,
    message_id: str,
    *,
    question_id: int | None,
    parent_id: int | None = None,
    earlier_redactions: tuple[str, ...] = (),
) -> Stored:
    """Store an idea or comment, enriched (redacted, tagged) before deciding.
    `earlier_redactions` are what was taken out of a draft redacted before it was kept."""
    enriched = ctx.enrich(text)
    if ctx.participant.language is None and enriched.language:
        ctx.update_participant(language=enriched.language)
    status = "pending" if enriched.flagged else "visible"
    ctx.effect(AddContribution(
        NewContribution(
            kind=kind,
            participant_id=0,  # the applier knows whose message it is
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
            status=status,
            moderation_reason=enriched.flagged,
            assisted=ctx.inbound.assisted,
            profile=ctx.participant.profile,
        )
    ))  # fmt: skip
    return Stored(NEW_NUMBER, status)


@dataclass(frozen=True)
class Stored:
    """A contribution about to be stored: its number is known once the batch commits,
    so a reply quotes `shown_number` (a placeholder the engine fills in with the idea's
    number)."""

    shown_number: str
    status: str
