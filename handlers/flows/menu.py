"""The main menu a participant returns to between tasks."""

from __future__ import annotations

from handlers.context import Context
from handlers.types import NEWS_MEDIA, Choice, Reply


def menu_choices(ctx: Context) -> tuple[Choice, ...]:
    return (
        Choice(ctx.label("menu_idea"), "menu:idea", short="Idea"),
        Choice(ctx.label("menu_vote"), "menu:vote", short="Vote"),
        Choice(ctx.label("menu_comment"), "menu:comment", short="Comment"),
        Choice(ctx.label("menu_help"), "menu:help", short="Help"),
    )


def question_line(ctx: Context) -> str:
    """The open question (or questions), to show before asking for anything: "" when
    none is open."""
    questions = ctx.open_questions()
    if not questions:
        return ""
    if len(questions) == 1:
        return ctx.catalogue.text("question_is", question=questions[0].text)
    return ctx.catalogue.text("questions_are", questions=" / ".join(q.text for q in questions))


def show_menu(
    ctx: Context, *, intro: str | None = None, with_question: bool = False
) -> list[Reply]:
    ctx.set_state("menu")
    parts = [ctx.label(intro)] if intro else []
    if with_question and (line := question_line(ctx)):
        parts.append(line)
    parts.append(ctx.label("menu"))
    return [Reply("\n".join(parts), choices=menu_choices(ctx), key="menu")]


def done(ctx: Context, *replies: Reply) -> list[Reply]:
    """What an action said, then the menu: every completed action offers it."""
    return [*replies, *show_menu(ctx)]


def show_help(ctx: Context) -> list[Reply]:
    # Help offers the menu's choices, so the state must be the menu for "1" to mean them.
    ctx.set_state("menu")
    # NEWS OFF is named only where news is sent at all.
    text = ctx.label("help" if ctx.inbound.medium in NEWS_MEDIA else "help_no_news")
    return [Reply(text, choices=menu_choices(ctx), key="help")]


def carrier_help(ctx: Context) -> Reply:
    """HELP on a phone network: what this is and the words to send, in one SMS."""
    name = ctx.config.consultation.name
    return Reply(ctx.catalogue.text("help_sms", name=name), key="help_sms")
