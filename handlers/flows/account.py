"""What a person controls about themselves: MYDATA, FORGET, and opting out (SMS STOP)."""

from __future__ import annotations

from handlers.context import Context
from handlers.flows.menu import done, show_menu
from handlers.types import Choice, Reply
from storage.effects import CancelOutbox, DropContact, Erase
from storage.records import ParticipantChanges

FORGET_YES, FORGET_NO = "forget:yes", "forget:no"


def my_data(ctx: Context) -> list[Reply]:
    person = ctx.participant
    if not person.consented:
        return [ctx.say("mydata_none")]
    activity = ctx.reads.activity(person.id)
    answer_labels = []
    for question in ctx.config.gateway:
        key = person.answers.get(question.key)
        option = question.find(key) if key else None
        if option:
            answer_labels.append(option.label)
    details = [ctx.catalogue.detail("joined", date=f"{person.consent_at:%d %b %Y}")]
    if answer_labels:
        details.append(ctx.catalogue.detail("answers", answers=", ".join(answer_labels)))
    details += [
        ctx.catalogue.detail("ideas", count=activity.ideas),
        ctx.catalogue.detail("comments", count=activity.comments),
        ctx.catalogue.detail("votes", count=activity.votes),
        ctx.catalogue.detail(
            "news", value=ctx.label("yes") if person.followups else ctx.label("no")
        ),
    ]
    return done(ctx, ctx.say("mydata", details="; ".join(details)))


def ask_forget(ctx: Context) -> list[Reply]:
    ctx.set_state("forget", previous=ctx.step)
    choices = (Choice(ctx.label("yes"), FORGET_YES), Choice(ctx.label("no"), FORGET_NO))
    return [ctx.say("forget_ask", choices=choices)]


def answer_forget(ctx: Context, confirmed: bool) -> list[Reply]:
    if not confirmed:
        return [ctx.say("forget_kept"), *show_menu(ctx)]
    erase(ctx)
    return [ctx.say("forgotten")]


def erase(ctx: Context) -> None:
    """FORGET: the person, everything they contributed and every row that links to them,
    including messages of theirs kept after failing."""
    ctx.effect(Erase(ctx.inbound.channel, ctx.inbound.sender))


def opt_out(ctx: Context) -> list[Reply]:
    """Carrier STOP: no more messages, and the follow-up address is deleted."""
    ctx.effect(DropContact())
    ctx.effect(CancelOutbox())
    changes: ParticipantChanges = {"opted_out": True}
    if ctx.participant.followups:
        changes["followups"] = False  # their address is gone, so news cannot reach them
    ctx.update_participant(**changes)
    return [ctx.say("opted_out")]


def opt_in(ctx: Context) -> list[Reply]:
    ctx.update_participant(opted_out=False)
    return [ctx.say("opted_in")]
