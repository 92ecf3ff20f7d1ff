"""The main menu a participant returns to between tasks."""

from __future__ import annotations

from handlers.context import Context
from handlers.types import Choice, Reply


def menu_choices(ctx: Context) -> tuple[Choice, ...]:
    return (
        Choice(ctx.label("menu_idea"), "menu:idea", short="Idea"),
        Choice(ctx.label("menu_vote"), "menu:vote", short="Vote"),
        Choice(ctx.label("menu_comment"), "menu:comment", short="Comment"),
        Choice(ctx.label("menu_help"), "menu:help", short="Help"),
    )


def show_menu(ctx: Context, *, intro: str | None = None) -> list[Reply]:
    ctx.set_state("menu")
    text = ctx.label("menu")
    if intro:
        text = f"{ctx.label(intro)} {text}"
    return [Reply(text, choices=menu_choices(ctx), key="menu")]


def show_help(ctx: Context) -> list[Reply]:
    # Help offers the menu's choices, so the state must be the menu for "1" to mean them.
    ctx.set_state("menu")
    return [Reply(ctx.label("help"), choices=menu_choices(ctx), key="help")]


def carrier_help(ctx: Context) -> Reply:
    """HELP on a phone network: what this is and the words to send, in one SMS."""
    name = ctx.config.consultation.name
    return Reply(ctx.catalogue.text("help_sms", name=name), key="help_sms")
