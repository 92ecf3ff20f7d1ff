"""Welcome, privacy notice, consent and the gateway questions about who is taking part."""

from __future__ import annotations

from handlers.context import Context
from handlers.flows.menu import question_line, show_menu
from handlers.settings import GatewayOption, GatewayQuestion
from handlers.types import Choice, Reply

CONSENT_YES, CONSENT_NO = "consent:yes", "consent:no"


def consent_choices(ctx: Context) -> tuple[Choice, ...]:
    return (Choice(ctx.label("yes"), CONSENT_YES), Choice(ctx.label("no"), CONSENT_NO))


def welcome(ctx: Context) -> list[Reply]:
    consultation = ctx.config.consultation
    text = "\n\n".join(
        [
            ctx.catalogue.text("welcome", name=consultation.name),
            *filter(None, [question_line(ctx)]),
            consultation.privacy_notice,
            ctx.catalogue.text("consent_ask"),
        ]
    )
    return [Reply(text, choices=consent_choices(ctx), key="welcome")]


def start_consent(ctx: Context) -> list[Reply]:
    ctx.set_state("consent")
    return welcome(ctx)


def record_consent(ctx: Context, agreed: bool) -> None:
    """Store a yes or no to the privacy notice; a no keeps nothing about the person
    beyond the refusal itself."""
    if agreed:
        ctx.update_participant(consent_at=ctx.now, refused_at=None)
    else:
        ctx.update_participant(
            refused_at=ctx.now, consent_at=None, answers={}, language=None, followups=None
        )


def answer_consent(ctx: Context, agreed: bool) -> list[Reply]:
    record_consent(ctx, agreed)
    if not agreed:
        ctx.set_state("refused")
        return [ctx.say("refused")]
    return ask_next_gateway(ctx)


def _first_unasked(ctx: Context) -> GatewayQuestion | None:
    # A skipped question is kept in the answers as None, so it is not asked again.
    answered = ctx.participant.answers
    return next((q for q in ctx.config.gateway if q.key not in answered), None)


def ask_next_gateway(ctx: Context, *, lead: list[Reply] | None = None) -> list[Reply]:
    replies = list(lead or [])
    question = _first_unasked(ctx)
    if question is None:
        return replies + show_menu(ctx, intro="gateway_done", with_question=True)
    ctx.set_state("gateway", question=question.key)
    return replies + [gateway_prompt(ctx)]


def _gateway_position(ctx: Context) -> tuple[GatewayQuestion, GatewayOption | None] | None:
    question = ctx.config.gateway_question(ctx.state.get("question", ""))
    if question is None:
        return None
    within = question.find(ctx.state.get("within", "")) if ctx.state.get("within") else None
    return question, within


def gateway_choices(ctx: Context) -> tuple[Choice, ...]:
    position = _gateway_position(ctx)
    if position is None:
        return ()
    question, within = position
    options = within.options if within else question.options
    # Not saying is a choice like the others wherever choices are shown (SKIP works too).
    skip = Choice(ctx.label("gateway_skip_choice"), f"gw:{question.key}:skip")
    return (
        *(
            Choice(option.label, f"gw:{question.key}:{option.key}", short=option.short)
            for option in options
        ),
        skip,
    )


def gateway_prompt(ctx: Context) -> Reply:
    position = _gateway_position(ctx)
    assert position is not None
    question, within = position
    prompt = (within.prompt or within.label) if within else question.prompt
    # Not saying is the last choice (typed SKIP works too), so no hint is needed.
    return Reply(prompt, choices=gateway_choices(ctx), key=f"gateway:{question.key}")


def answer_gateway(ctx: Context, question_key: str, option_key: str) -> list[Reply]:
    """Record an answer (or a skip) and move to the next question.

    A button from an earlier question still counts for that question, so pressing an
    old button never puts an answer in the wrong place.
    """
    question = ctx.config.gateway_question(question_key)
    if question is None:
        return ask_next_gateway(ctx)
    answers = dict(ctx.participant.answers)
    if option_key == "skip":
        within = ctx.state.get("within") if ctx.state.get("question") == question_key else None
        # They may have told us the group (e.g. AHP) but not which profession.
        answers[question_key] = within or None
    else:
        option = question.find(option_key)
        if option is None:
            return [gateway_prompt(ctx)] if ctx.step == "gateway" else ask_next_gateway(ctx)
        if option.options:
            ctx.set_state("gateway", question=question.key, within=option.key)
            return [gateway_prompt(ctx)]
        answers[question_key] = option.key
    ctx.update_participant(answers=answers)
    return ask_next_gateway(ctx)
