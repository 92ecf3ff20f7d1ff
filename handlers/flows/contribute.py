"""Sharing ideas and comments, and the one-time offer of news about one's ideas."""

from __future__ import annotations

from dataclasses import dataclass, replace

from handlers.context import Context, alike_read
from handlers.flows import voting
from handlers.flows.menu import done, show_menu
from handlers.limits import contribution_refusal, refusal_reads
from handlers.types import NEWS_MEDIA, Choice, Reply
from storage.effects import NEW_NUMBER, AddContribution, DropContact, SaveContact
from storage.records import ContributionRecord, NewContribution
from storage.votes import AGREE

FOLLOWUP_YES, FOLLOWUP_NO = "followup:yes", "followup:no"
CANCEL = "cancel"
ALIKE_NEW = "alike:new"
COMMENT_CHOICES = 3  # ideas offered to comment on
LABEL_LENGTH = 60  # characters of an idea on a button
LINE_LENGTH = 50  # characters of each idea listed in a prompt (three must fit one SMS)


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


def submit_idea(
    ctx: Context, text: str, *, question_key: str | None = None, different: bool = False
) -> list[Reply]:
    """Store an idea; first, unless the person said theirs is `different`, offer the
    question's ideas like it ("Is your idea like one of these?")."""
    if not has_words(text):
        # "2" or "?" alone: a menu choice typed at "What is your idea?", or a slip, not
        # an idea. Nothing is stored and the step stays, so their next words are the idea.
        return [ctx.say("idea_in_words")]
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
    offering = not different and ctx.config.consultation.offer_alike
    if offering:  # the limits' counts and the ideas like it: one round of loading
        alike = alike_read(ctx.question_ids.get(question_key), ctx.enrich(text).text)
        ctx.reads.need(*refusal_reads(ctx, "idea", text), alike)
    refusal = contribution_refusal(ctx, "idea", text)  # a limit, or the same idea
    if refusal is not None:
        ctx.set_state("menu")
        return [refusal]
    message_id = ctx.state.get("message_id") or ctx.inbound.message_id
    if offering:
        offer = _offer_alike(ctx, text, question_key, message_id)
        if offer:
            return offer
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
    if ctx.participant.followups is None and ctx.inbound.medium in NEWS_MEDIA:
        ctx.set_state("followup")
        return [first, ctx.say("followup_ask", choices=followup_choices(ctx))]
    return done(ctx, first)


def has_words(text: str) -> bool:
    """At least one letter, in any script: not only digits, signs or emoji."""
    return any(character.isalpha() for character in text)


def _short(text: str, limit: int = LABEL_LENGTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rsplit(" ", 1)[0] + "..."


def _offer_alike(ctx: Context, text: str, question_key: str, message_id: str) -> list[Reply] | None:
    """The question's ideas like this one as choices, with the idea kept as a draft;
    None when there are none (other than the person's own)."""
    enriched = ctx.enrich(text)
    alike = [
        idea
        for idea in ctx.alike(ctx.question_ids.get(question_key), enriched.text)
        if idea.participant_id != ctx.participant.id
    ]
    if not alike:
        return None
    ctx.set_state(
        "alike",
        question=question_key,
        draft=enriched.text,
        redactions=[*ctx.state.get("redactions", ()), *enriched.redactions],
        message_id=message_id,
        ideas=[[idea.id, idea.shown_number, idea.text] for idea in alike],
    )
    return [alike_prompt(ctx)]


def _idea_choices(ctx: Context, kind: str) -> tuple[Choice, ...]:
    """One choice per idea kept in the state ("Idea 7: ..."), its payload `kind:ID`."""
    return tuple(
        Choice(
            ctx.catalogue.text("alike_idea", number=number, text=_short(text)),
            f"{kind}:{idea_id}",
            short=ctx.catalogue.text("alike_idea", number=number, text="").rstrip(": "),
        )
        for idea_id, number, text in ctx.state.get("ideas", ())
    )


def alike_choices(ctx: Context) -> tuple[Choice, ...]:
    return (
        *_idea_choices(ctx, "alike"),
        Choice(ctx.label("alike_different"), ALIKE_NEW),
    )


def alike_prompt(ctx: Context) -> Reply:
    """The offer: each idea in full in the text (SMS shows only the choices' numbers),
    and one choice per idea plus "Mine is different"."""
    lines = [ctx.label("alike_ask")] + [
        ctx.catalogue.text("alike_idea", number=number, text=_short(text, LINE_LENGTH))
        for _id, number, text in ctx.state.get("ideas", ())
    ]
    return Reply("\n".join(lines), choices=alike_choices(ctx), key="alike_ask")


def answer_alike(ctx: Context, choice: str) -> list[Reply]:
    """An idea chosen as the same: an agree vote on it, and no new idea. "Mine is
    different" (or an offered idea gone since): the idea is stored as typed."""
    draft, question_key = ctx.state.get("draft", ""), ctx.state.get("question")
    if ctx.step != "alike" or not draft:
        return show_menu(ctx)
    offered = {str(idea_id): number for idea_id, number, _text in ctx.state.get("ideas", ())}
    if choice in offered:
        refused = voting.record_vote(ctx, int(choice), AGREE)
        if refused is None:
            return done(ctx, ctx.say("alike_voted", number=offered[choice]))
    return submit_idea(ctx, draft, question_key=question_key, different=True)


def keep_offered_draft(ctx: Context) -> list[Reply]:
    """Offered ideas like theirs, the person moved on (VOTE, HELP, ...) without saying
    theirs is the same: their idea is stored as typed, never dropped. What storing it
    said (its number), without the menu; nothing if no offer was open."""
    draft, question_key = ctx.state.get("draft", ""), ctx.state.get("question")
    if ctx.step != "alike" or not draft:
        return []
    return submit_idea(ctx, draft, question_key=question_key, different=True)[:1]


def choose_question(ctx: Context, question_key: str) -> list[Reply]:
    draft = ctx.state.get("draft")
    if draft:
        return submit_idea(ctx, draft, question_key=question_key)
    question = next((q for q in ctx.open_questions() if q.key == question_key), None)
    if question is None:
        return show_menu(ctx, intro="no_open_question")
    ctx.set_state("idea", question=question.key)
    return [ctx.say("ask_idea", question=question.text)]


def cancel_choice(ctx: Context) -> Choice:
    return Choice(ctx.label("cancel_choice"), CANCEL)


def ask_for_comment(ctx: Context, idea: ContributionRecord) -> list[Reply]:
    """Say which idea the comment will be for, and ask for it (or Cancel)."""
    ctx.set_state("comment", idea=idea.id)
    ask = ctx.say(
        "comment_ask",
        number=idea.shown_number,
        text=idea.text,
        choices=(cancel_choice(ctx),),
    )
    return [replace(ask, quote=idea.text)]


def offer_ideas_to_comment(ctx: Context, draft: str = "") -> list[Reply]:
    """A short list of ideas to choose the one to comment on (a comment already typed
    is kept until one is chosen)."""
    ideas = ctx.reads.candidates(ctx.participant.id, ctx.open_question_ids(), (), COMMENT_CHOICES)[
        :COMMENT_CHOICES
    ]
    if not ideas:
        return done(ctx, ctx.say("comment_none"))
    ctx.set_state(
        "choose_comment",
        ideas=[[idea.id, idea.shown_number, idea.text] for idea in ideas],
        **({"draft": draft} if draft else {}),
    )
    return [comment_choice_prompt(ctx)]


def comment_choices(ctx: Context) -> tuple[Choice, ...]:
    return (
        *_idea_choices(ctx, "comment"),
        cancel_choice(ctx),
    )


def comment_choice_prompt(ctx: Context) -> Reply:
    lines = [ctx.label("comment_choose")] + [
        ctx.catalogue.text("alike_idea", number=number, text=_short(text, LINE_LENGTH))
        for _id, number, text in ctx.state.get("ideas", ())
    ]
    return Reply("\n".join(lines), choices=comment_choices(ctx), key="comment_choose")


def choose_idea_to_comment(ctx: Context, idea_id: int) -> list[Reply]:
    """An idea chosen from the list: the comment typed before, or ask for it."""
    draft = ctx.state.get("draft") if ctx.step == "choose_comment" else None
    idea = ctx.idea(idea_id)
    if idea is None or idea.kind != "idea" or idea.status != "visible":
        return show_menu(ctx, intro="vote_gone")
    if draft:
        return submit_comment(ctx, idea.id, draft)
    return ask_for_comment(ctx, idea)


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
    if saved.status != "visible":
        return done(ctx, ctx.say("comment_pending"))
    return done(ctx, ctx.say("comment_saved", number=idea.shown_number))


def followup_choices(ctx: Context) -> tuple[Choice, ...]:
    return (Choice(ctx.label("yes"), FOLLOWUP_YES), Choice(ctx.label("no"), FOLLOWUP_NO))


def answer_followup(ctx: Context, wanted: bool) -> list[Reply]:
    if wanted and ctx.inbound.medium not in NEWS_MEDIA:  # (asked before that was known)
        ctx.update_participant(followups=False)
        return done(ctx, ctx.say("news_unavailable"))
    if wanted:
        # The only raw address Chorus keeps, encrypted, and only because they asked.
        ctx.effect(
            SaveContact(ctx.inbound.channel, ctx.contacts.encrypt(ctx.inbound.sender), ctx.now)
        )
    ctx.update_participant(followups=wanted)
    return done(ctx, ctx.say("followup_yes" if wanted else "followup_no"))


def news(ctx: Context, wanted: bool) -> list[Reply]:
    """NEWS OFF: no more news, and the address kept for it is deleted; nothing else is.
    NEWS ON: news again (the address is kept from this message), where news can be sent."""
    if wanted and ctx.inbound.medium not in NEWS_MEDIA:
        return done(ctx, ctx.say("news_unavailable"))
    if wanted:
        ctx.effect(
            SaveContact(ctx.inbound.channel, ctx.contacts.encrypt(ctx.inbound.sender), ctx.now)
        )
    else:
        ctx.effect(DropContact())
    ctx.update_participant(followups=wanted)
    return done(ctx, ctx.say("news_on" if wanted else "news_off"))


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
            sentiment_confidence=enriched.confidence,
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
