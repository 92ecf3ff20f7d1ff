"""Which flow step a message goes to: a pressed button, a command word, a numbered
answer or free text, read against where the person is in the conversation."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from handlers.commands import HELP_WORDS, OPT_IN_WORDS, OPT_OUT_WORDS, Command, parse_command
from handlers.context import Context
from handlers.flows import account, call, contribute, menu, onboarding, voting
from handlers.types import Choice, Reply

# Media where phone-network keywords (STOP, START, ...) opt a number out or in.
CARRIER_MEDIA = frozenset({"sms"})
_NOT_A_LETTER = re.compile(r"[\W_]+")


def _vote_choices(ctx: Context) -> tuple[Choice, ...]:
    return voting.vote_choices(ctx, int(ctx.state.get("idea", 0)))


def _forget_choices(ctx: Context) -> tuple[Choice, ...]:
    return (
        Choice(ctx.label("yes"), account.FORGET_YES),
        Choice(ctx.label("no"), account.FORGET_NO),
    )


CHOICES_BY_STEP: dict[str, Callable[[Context], tuple[Choice, ...]]] = {
    "consent": onboarding.consent_choices,
    "refused": onboarding.consent_choices,
    "gateway": onboarding.gateway_choices,
    "menu": menu.menu_choices,
    "followup": contribute.followup_choices,
    "choose_question": contribute.question_choices,
    "choose_comment": contribute.comment_choices,
    "comment": lambda ctx: (contribute.cancel_choice(ctx),),
    "alike": contribute.alike_choices,
    "vote": _vote_choices,
    "forget": _forget_choices,
}

# What YES and NO mean at each step that asks a yes/no question.
YES_NO_PAYLOADS = {
    "consent": (onboarding.CONSENT_YES, onboarding.CONSENT_NO),
    "refused": (onboarding.CONSENT_YES, onboarding.CONSENT_NO),
    "followup": (contribute.FOLLOWUP_YES, contribute.FOLLOWUP_NO),
    "forget": (account.FORGET_YES, account.FORGET_NO),
}


MAX_ID = 2**63 - 1  # the largest id a store column can hold
# Steps that asked the person to type something of their own.
TYPING_STEPS = frozenset({"idea", "comment"})


def as_id(text: str) -> int | None:
    """A contribution id typed or carried in a button, or None if it cannot be one
    (a forged button with a 30-digit number must not reach the database)."""
    if not text.isdigit():
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def carrier_keyword(medium: str, text: str) -> str | None:
    """'out', 'in' or 'help' for a phone-network keyword on a carrier channel.

    As on the networks, the keyword must be the whole message, but case, spacing,
    punctuation and look-alike characters do not matter: "Stop.", "stop all", "OPT-OUT"
    and a full-width "ＳＴＯＰ" all opt out; "stop the cuts" does not.
    """
    if medium not in CARRIER_MEDIA:
        return None
    word = _NOT_A_LETTER.sub("", unicodedata.normalize("NFKC", text).casefold())
    if word in OPT_OUT_WORDS:
        return "out"
    if word in OPT_IN_WORDS:
        return "in"
    if word in HELP_WORDS:
        return "help"
    return None


def route(ctx: Context) -> list[Reply]:
    if ctx.inbound.medium in call.CALL_MEDIA:
        return call.handle(ctx)
    payload = ctx.inbound.payload
    if payload is None:
        # Before any conversation step, so a STOP is never taken as an answer.
        keyword = carrier_keyword(ctx.inbound.medium, ctx.text)
        if keyword == "out":
            return account.opt_out(ctx)
        if keyword == "in" and ctx.participant.opted_out:
            return [*account.opt_in(ctx), *_where_they_were(ctx)]
        if keyword == "help":
            return [menu.carrier_help(ctx)]
    command = None if payload is not None else parse_command(ctx.text)
    if _is_typed_text(ctx, command):
        command = None  # asked for an idea, "Vote counting should be public" is the idea
    if not ctx.participant.consented:
        return _before_consent(ctx, payload, command)
    if payload is not None:
        return on_payload(ctx, payload)
    if command is not None:
        return _on_command(ctx, command)
    return _on_text(ctx)


def _is_typed_text(ctx: Context, command: Command | None) -> bool:
    """At a step that asked for the person's own words, a bare command word followed by
    more words is those words ("IDEA ..." and "COMMENT ..." keep their meaning)."""
    return (
        command is not None
        and bool(command.argument)
        and not command.slashed
        and command.word not in ("idea", "comment", "news")
        and ctx.step in TYPING_STEPS
    )


def _choice_for_text(ctx: Context) -> tuple[str | None, int]:
    """The payload a typed answer picks ("2", or an option's label), and how many
    choices there were; (None, n) when the text picks nothing."""
    choices = CHOICES_BY_STEP.get(ctx.step, lambda _ctx: ())(ctx)
    answer = ctx.text.strip().rstrip(".").strip()
    if answer.isdigit():
        number = int(answer)
        if 1 <= number <= len(choices):
            return choices[number - 1].payload, len(choices)
        return "", len(choices)  # a number, but not one of the choices
    folded = answer.casefold()
    for choice in choices:
        if folded in {choice.label.casefold(), choice.compact.casefold()}:
            return choice.payload, len(choices)
    return None, len(choices)


def _before_consent(ctx: Context, payload: str | None, command: Command | None) -> list[Reply]:
    if ctx.step in ("consent", "refused"):
        if payload is None and command is None:
            payload, _count = _choice_for_text(ctx)
        elif command is not None and command.word in ("yes", "no"):
            payload = YES_NO_PAYLOADS["consent"][0 if command.word == "yes" else 1]
        if payload in (onboarding.CONSENT_YES, onboarding.CONSENT_NO):
            return onboarding.answer_consent(ctx, payload == onboarding.CONSENT_YES)
    if command is not None and command.word == "mydata":
        return [ctx.say("mydata_none")]
    if command is not None and command.word == "forget":
        account.erase(ctx)
        return [ctx.say("forgotten")]
    if ctx.step == "refused" and not (command and command.word == "start"):
        return [ctx.say("refused_before", choices=onboarding.consent_choices(ctx))]
    if ctx.step == "consent" and command is None and payload is None:
        return [ctx.say("consent_again", choices=onboarding.consent_choices(ctx))]
    return onboarding.start_consent(ctx)


def on_payload(ctx: Context, payload: str) -> list[Reply]:
    kind, _, rest = payload.partition(":")
    if kind == "consent":
        # A consent button pressed again after consenting: NO means "stop using my
        # data", which is FORGET (confirmed first); YES changes nothing.
        return menu.show_menu(ctx) if rest == "yes" else account.ask_forget(ctx)
    if kind == "gw" and ":" in rest:
        question_key, option_key = rest.split(":", 1)
        return onboarding.answer_gateway(ctx, question_key, option_key)
    if kind == "menu":
        return _on_menu(ctx, rest)
    if kind == "question":
        return contribute.choose_question(ctx, rest)
    if kind == "followup":
        return contribute.answer_followup(ctx, rest == "yes")
    if kind == "alike":
        return contribute.answer_alike(ctx, rest)
    if kind == "comment":
        idea_id = as_id(rest)
        if idea_id is not None:
            return contribute.choose_idea_to_comment(ctx, idea_id)
        return show_menu_gone(ctx)
    if kind == contribute.CANCEL:
        return _cancel(ctx)
    if kind == "forget":
        return account.answer_forget(ctx, rest == "yes")
    if kind == "vote":
        idea, _, choice = rest.partition(":")
        idea_id = as_id(idea)
        if idea_id is not None:
            return voting.cast(ctx, idea_id, choice)
        return voting.next_idea(ctx, lead=[ctx.say("vote_gone")])
    return [ctx.say("unknown_command")]


def _on_menu(ctx: Context, item: str) -> list[Reply]:
    if item == "idea":
        return contribute.ask_for_idea(ctx)
    if item == "vote":
        return voting.next_idea(ctx)
    if item == "comment":
        return _comment(ctx, "")
    return menu.show_help(ctx)


# Commands that, at the "is your idea like one of these?" offer, leave the idea unstored:
# they refuse it (SKIP, CANCEL) or would erase it (FORGET).
DROPPING_THE_DRAFT = frozenset({"skip", "cancel", "forget"})


def _on_command(ctx: Context, command: Command) -> list[Reply]:
    if ctx.step == "alike" and command.word in ("yes", "no"):
        # "Yes" to "is your idea like one of these?" does not say which one.
        return [
            _wrong_choice(ctx, len(contribute.alike_choices(ctx))),
            contribute.alike_prompt(ctx),
        ]
    if ctx.step == "alike" and command.word not in DROPPING_THE_DRAFT:
        kept = contribute.keep_offered_draft(ctx)
        return [*kept, *_run_command(ctx, command)]
    return _run_command(ctx, command)


def _run_command(ctx: Context, command: Command) -> list[Reply]:
    word = command.word
    if word == "start":
        return menu.show_menu(ctx)
    if word == "help":
        return menu.show_help(ctx)
    if word == "idea":
        if command.argument:
            return contribute.submit_idea(ctx, command.argument)
        return contribute.ask_for_idea(ctx)
    if word == "vote":
        return voting.next_idea(ctx)
    if word == "comment":
        return _comment(ctx, command.argument)
    if word == "mydata":
        return account.my_data(ctx)
    if word == "forget":
        return account.ask_forget(ctx)
    if word == "skip":
        return _skip(ctx)
    if word == "cancel":
        return _cancel(ctx)
    if word == "news":
        return contribute.news(ctx, command.argument.casefold().rstrip(".!") == "on")
    if word in ("yes", "no") and ctx.step in YES_NO_PAYLOADS:
        yes, no = YES_NO_PAYLOADS[ctx.step]
        return on_payload(ctx, yes if word == "yes" else no)
    if word in ("yes", "no"):
        return menu.show_help(ctx)
    return [ctx.say("unknown_command")]


def _skip(ctx: Context) -> list[Reply]:
    if ctx.step == "gateway":
        return onboarding.answer_gateway(ctx, ctx.state.get("question", ""), "skip")
    if ctx.step == "vote":
        return voting.cast(ctx, int(ctx.state.get("idea", 0)), "skip")
    if ctx.step in CANCELLABLE_STEPS:
        return _cancel(ctx)
    return [ctx.say("nothing_to_skip")]


# Steps a SKIP (or CANCEL, or the Cancel choice) leaves for the menu, keeping nothing.
CANCELLABLE_STEPS = frozenset(
    {"idea", "comment", "choose_comment", "choose_question", "alike", "followup", "forget"}
)


def _cancel(ctx: Context) -> list[Reply]:
    if ctx.step not in CANCELLABLE_STEPS:
        return [ctx.say("nothing_to_skip")]
    return [ctx.say("cancelled"), *menu.show_menu(ctx)]


def show_menu_gone(ctx: Context) -> list[Reply]:
    return menu.show_menu(ctx, intro="vote_gone")


def _comment(ctx: Context, argument: str) -> list[Reply]:
    """COMMENT [idea number] [text]: comment on the idea on screen, a numbered idea, or
    the next idea that needs attention."""
    number, _, rest = argument.lstrip("#").partition(" ")
    if number.isdigit():
        idea_number = as_id(number)  # the number people see ("idea 7"), not the row id
        idea = ctx.idea_by_number(idea_number) if idea_number else None
        if idea is None or idea.kind != "idea" or idea.status != "visible":
            return show_menu_gone(ctx)
        if rest.strip():
            return contribute.submit_comment(ctx, idea.id, rest.strip())
        return contribute.ask_for_comment(ctx, idea)
    idea = voting.current_idea(ctx)  # the idea on screen is the one chosen
    if idea is not None and argument:
        return contribute.submit_comment(ctx, idea.id, argument)
    if idea is not None:
        return contribute.ask_for_comment(ctx, idea)
    return contribute.offer_ideas_to_comment(ctx, argument)


def _on_text(ctx: Context) -> list[Reply]:
    step = ctx.step
    if step == "idea":
        return contribute.submit_idea(ctx, ctx.text, question_key=ctx.state.get("question"))
    if step == "comment":
        payload, _count = _choice_for_text(ctx)
        if payload:
            return on_payload(ctx, payload)  # the Cancel choice, by its number or name
        if _lone_number(ctx.text):
            # A number alone is an idea's number (COMMENT N), never a comment.
            return _comment(ctx, _lone_number(ctx.text))
        return contribute.submit_comment(ctx, int(ctx.state.get("idea", 0)), ctx.text)
    payload, count = _choice_for_text(ctx)
    if payload:
        return on_payload(ctx, payload)
    if step == "choose_comment" and _lone_number(ctx.text):
        return _comment(ctx, _lone_number(ctx.text))  # not one of the list: idea N
    if payload == "" or step in CHOOSING_STEPS:
        reply = _wrong_choice(ctx, count)
        prompt = _prompt_again(ctx)
        return [reply, prompt] if prompt else [reply]
    if step == "vote":
        return [ctx.say("vote_use_numbers")]
    # At the menu (or after a question we can let go of), free text is an idea.
    return contribute.submit_idea(ctx, ctx.text)


# Steps where only one of the choices is an answer.
CHOOSING_STEPS = frozenset({"gateway", "choose_question", "choose_comment", "alike", "forget"})


def _lone_number(text: str) -> str:
    answer = text.strip().lstrip("#").rstrip(".").strip()
    return answer if answer.isdigit() else ""


def _wrong_choice(ctx: Context, count: int) -> Reply:
    """A typed answer that is none of the choices, answered in the channel's terms:
    where choices are buttons, press one; elsewhere (SMS, a terminal) the numbers."""
    if ctx.inbound.buttons:
        return ctx.say("choose_button")
    return ctx.say("out_of_range", count=count)


def _where_they_were(ctx: Context) -> list[Reply]:
    """After opting back in: the question that was open, or the menu, or consent."""
    if not ctx.participant.consented:
        return onboarding.start_consent(ctx)
    prompt = _prompt_again(ctx)
    return [prompt] if prompt else menu.show_menu(ctx)


def _prompt_again(ctx: Context) -> Reply | None:
    if ctx.step == "gateway":
        return onboarding.gateway_prompt(ctx)
    choices = CHOICES_BY_STEP.get(ctx.step, lambda _ctx: ())(ctx)
    if ctx.step == "choose_question":
        return ctx.say("ask_question", choices=choices)
    if ctx.step == "forget":
        return ctx.say("forget_ask", choices=choices)
    if ctx.step == "alike":
        return contribute.alike_prompt(ctx)
    if ctx.step == "choose_comment":
        return contribute.comment_choice_prompt(ctx)
    if ctx.step == "menu":
        return Reply(ctx.label("menu"), choices=choices, key="menu")
    return None
