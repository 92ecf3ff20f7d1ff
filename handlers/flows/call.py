"""The phone-call conversation (IVR), for people who cannot read or type, or who call
from a landline: the same consultation by keypad and voice.

The privacy notice is read first, and the caller agrees by pressing 1 before anything
they say is kept. At the menu, 1 shares an idea (what the gateway's speech recognition
heard is redacted, read back, and saved when they press 1), 2 reads out the three ideas
with the fewest votes and takes a vote on each (1 agree, 2 disagree, 3 skip), 9 reads the
privacy notice again and 8 deletes what they told us. The gateway questions are not asked
on a call: their lists are too long to read out, and they are optional on every channel.

Where the caller is lives in the participant's state, tagged with the call's id, so any
worker can take the next keypress and a dropped call starts afresh next time. Before they
agree there is no participant row (handlers/strangers.py), so no state either: a caller
without a row is at the consent question, and the call's turn number stands in for the
silences counted so far (`stranger_state`). Keys come in
as text ("1"); a spoken number or an obvious word ("agree", "vote") works too. The adapter
sends payloads for what is not input: START (the call began), SILENCE (nothing was pressed
or said) and REPEAT (a request seen before: say the prompt again, change nothing).
"""

from __future__ import annotations

import re
from dataclasses import replace

from handlers.context import Context
from handlers.flows import account, voting
from handlers.flows.contribute import store_contribution
from handlers.flows.onboarding import record_consent
from handlers.limits import contribution_refusal
from handlers.types import Inbound, Reply
from storage.records import ContributionRecord
from storage.votes import AGREE, DISAGREE, SKIP

CALL_MEDIA = frozenset({"call"})
START, SILENCE, REPEAT = "call:start", "call:silence", "call:repeat"
# Replies after which the caller speaks instead of pressing a key, and after which the
# call ends; the adapter reads these to choose between <Gather> and <Hangup>.
LISTEN = frozenset({"call_ask_idea"})
HANG_UP = frozenset({"call_refused", "call_forgotten", "call_goodbye"})

IDEAS_PER_ROUND = 3
MAX_SILENCES = 3
SPOKEN_LENGTH = 300  # characters of an idea read aloud; text to listen to must stay short

_NUMBER_WORDS = {
    "zero": "0", "one": "1", "won": "1", "two": "2", "to": "2", "too": "2", "three": "3",
    "four": "4", "for": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_FILLER = frozenset({"press", "pressing", "number", "option", "i", "please", "the", "ill"})
CONSENT_WORDS = {"yes": "1", "agree": "1", "no": "2", "privacy": "9"}
CONFIRM_WORDS = {"yes": "1", "save": "1", "no": "2", "again": "2"}
FORGET_WORDS = {"yes": "1", "delete": "1", "no": "2", "keep": "2"}
MENU_WORDS = {
    "idea": "1", "share": "1", "vote": "2", "voting": "2", "delete": "8", "forget": "8",
    "privacy": "9",
}  # fmt: skip
VOTE_WORDS = {"agree": "1", "yes": "1", "disagree": "2", "no": "2", "skip": "3", "next": "3"}
VOTE_VALUES = {"1": AGREE, "2": DISAGREE, "3": SKIP}


def call_id(inbound: Inbound) -> str:
    """The provider's id of the call; the adapter puts it before the turn number in the
    message id ("CA0123...:4"), which keeps every keypress of every call unique."""
    return inbound.message_id.split(":", 1)[0]


def turn_number(inbound: Inbound) -> int:
    """The turn of the call this request answers (0: the call began); the adapter puts it
    after the call's id in the message id."""
    turn = inbound.message_id.split(":")[1:2]
    return int(turn[0]) if turn and turn[0].isdigit() else 0


def stranger_state(inbound: Inbound) -> dict:
    """Where a caller with no participant row is: at the consent question of this call
    (the greeting asks it, and any answer to it creates the row or ends the call). Every
    turn since the greeting asked it again, so they count as the silences so far: a
    caller who says nothing hears goodbye after MAX_SILENCES turns, as one with a row."""
    if inbound.payload == START:
        return {}
    quiet = max(turn_number(inbound) - 1, 0)
    return {"step": "call_consent", "call": call_id(inbound), "quiet": quiet}


def pressed(text: str, words: dict[str, str] | None = None) -> str | None:
    """The key a caller pressed or said: "1", "one", "Press one." or a word of `words`
    ("Agree."), alone; anything longer ("I don't agree") is not guessed at."""
    tokens = [t for t in re.sub(r"[^\w\s*#]", " ", text.casefold()).split() if t not in _FILLER]
    if len(tokens) != 1:
        return None
    token = tokens[0]
    if len(token) == 1 and (token.isdigit() or token in "*#"):
        return token
    return _NUMBER_WORDS.get(token) or (words or {}).get(token)


def spoken(text: str, limit: int = SPOKEN_LENGTH) -> str:
    """A participant's text made fit to read out: short, without trailing punctuation."""
    text = " ".join(text.split()).rstrip(" .!?;:,")
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0].rstrip(" .!?;:,") + "..."
    return text


def handle(ctx: Context) -> list[Reply]:
    payload = ctx.inbound.payload
    if payload == START or ctx.state.get("call") != call_id(ctx.inbound):
        return _greet(ctx)
    if payload == REPEAT:
        return _prompt(ctx)
    if payload == SILENCE:
        return _silence(ctx)
    step = STEPS.get(ctx.step)
    return step(ctx) if step else _greet(ctx)


def _go(ctx: Context, step: str, **data: object) -> None:
    ctx.set_state(step, call=call_id(ctx.inbound), **data)


def _menu(ctx: Context) -> Reply:
    return ctx.say("call_menu")


def _privacy(ctx: Context) -> Reply:
    notice = ctx.config.consultation.spoken_privacy_notice or ctx.label("call_privacy")
    return Reply(notice, key="call_privacy")


def _greet(ctx: Context) -> list[Reply]:
    name = ctx.config.consultation.name
    if ctx.participant.consented:
        _go(ctx, "call_menu")
        return [ctx.say("call_welcome_back", name=name), _menu(ctx)]
    _go(ctx, "call_consent")
    return [ctx.say("call_welcome", name=name), _privacy(ctx), ctx.say("call_consent_ask")]


def _silence(ctx: Context) -> list[Reply]:
    quiet = int(ctx.state.get("quiet", 0)) + 1
    if quiet >= MAX_SILENCES:
        _go(ctx, "call_ended")
        return [ctx.say("call_goodbye")]
    data = {k: v for k, v in ctx.state.items() if k not in ("step", "quiet")}
    ctx.set_state(ctx.step, **data, quiet=quiet)
    return [ctx.say("call_not_heard"), *_prompt(ctx)]


def _prompt(ctx: Context) -> list[Reply]:
    """What the caller is being asked right now, asked again."""
    step = ctx.step
    if step == "call_consent":
        return [ctx.say("call_consent_ask")]
    if step == "call_menu":
        return [_menu(ctx)]
    if step == "call_question":
        return [_question_prompt(ctx)]
    if step == "call_idea":
        return [_ask_idea_reply(ctx, ctx.state.get("question", ""))]
    if step == "call_confirm":
        return [ctx.say("call_confirm_idea", text=spoken(ctx.state.get("draft", "")))]
    if step == "call_alike":
        return [_alike_prompt(ctx)]
    if step == "call_vote":
        return _next_card(ctx, list(ctx.state.get("ideas", [])), ctx.state.get("at", 0))
    if step == "call_forget":
        return [ctx.say("call_forget_ask")]
    return _greet(ctx)


def _on_consent(ctx: Context) -> list[Reply]:
    key = pressed(ctx.text, CONSENT_WORDS)
    if key == "1":
        record_consent(ctx, True)
        _go(ctx, "call_menu")
        return [ctx.say("call_joined"), _menu(ctx)]
    if key == "2":
        record_consent(ctx, False)
        ctx.set_state("refused")  # as on every channel: the refusal, and nothing else
        return [ctx.say("call_refused")]
    if key == "9":
        return [_privacy(ctx), ctx.say("call_consent_ask")]
    return [ctx.say("call_bad_key"), ctx.say("call_consent_ask")]


def _on_menu(ctx: Context) -> list[Reply]:
    key = pressed(ctx.text, MENU_WORDS)
    if key == "1":
        return _start_idea(ctx)
    if key == "2":
        return _start_votes(ctx)
    if key == "9":
        return [_privacy(ctx), _menu(ctx)]
    if key == "8":
        _go(ctx, "call_forget")
        return [ctx.say("call_forget_ask")]
    return [ctx.say("call_bad_key"), _menu(ctx)]


def _start_idea(ctx: Context) -> list[Reply]:
    questions = ctx.open_questions()
    if not questions:
        return [ctx.say("no_open_question"), _menu(ctx)]
    if len(questions) == 1:
        return _ask_idea(ctx, questions[0].key)
    _go(ctx, "call_question")
    return [_question_prompt(ctx)]


def _question_prompt(ctx: Context) -> Reply:
    options = [
        ctx.catalogue.text("call_question_option", number=number, question=question.text)
        for number, question in enumerate(ctx.open_questions(), 1)
    ]
    return Reply(" ".join([ctx.label("ask_question"), *options]), key="call_question")


def _on_question(ctx: Context) -> list[Reply]:
    key = pressed(ctx.text) or ""
    questions = ctx.open_questions()
    if key.isdigit() and 1 <= int(key) <= len(questions):
        return _ask_idea(ctx, questions[int(key) - 1].key)
    return [ctx.say("call_bad_key"), _question_prompt(ctx)]


def _ask_idea(ctx: Context, question_key: str) -> list[Reply]:
    _go(ctx, "call_idea", question=question_key)
    return [_ask_idea_reply(ctx, question_key)]


def _ask_idea_reply(ctx: Context, question_key: str) -> Reply:
    question = next((q for q in ctx.config.questions if q.key == question_key), None)
    return ctx.say("call_ask_idea", question=question.text if question else "")


def _on_idea(ctx: Context) -> list[Reply]:
    if pressed(ctx.text) is not None:  # a key instead of words: back to the menu
        _go(ctx, "call_menu")
        return [_menu(ctx)]
    # Redacted before it is kept in the state, and read back so the caller can check
    # what speech recognition heard before it counts.
    enriched = ctx.enrich(ctx.text)
    _go(
        ctx,
        "call_confirm",
        question=ctx.state.get("question", ""),
        draft=enriched.text,
        redactions=list(enriched.redactions),
        message_id=ctx.inbound.message_id,
    )
    return [ctx.say("call_confirm_idea", text=spoken(enriched.text))]


def _on_confirm(ctx: Context) -> list[Reply]:
    key = pressed(ctx.text, CONFIRM_WORDS)
    question_key = ctx.state.get("question", "")
    if key == "2":
        return _ask_idea(ctx, question_key)
    if key != "1":
        return [ctx.say("call_bad_key"), *_prompt(ctx)]
    if question_key not in {q.key for q in ctx.open_questions()}:
        _go(ctx, "call_menu")
        return [ctx.say("no_open_question"), _menu(ctx)]
    draft = ctx.state.get("draft", "")
    refusal = contribution_refusal(ctx, "idea", draft)  # a limit, or the same idea again
    if refusal is not None:
        _go(ctx, "call_menu")
        return [refusal, _menu(ctx)]
    if not ctx.config.consultation.offer_alike:
        return _store_idea(ctx)
    alike = [
        idea
        for idea in ctx.alike(ctx.question_ids.get(question_key), draft)
        if idea.participant_id != ctx.participant.id
    ]
    if alike:
        return _offer_alike(ctx, alike)
    return _store_idea(ctx)


def _offer_alike(ctx: Context, alike: list[ContributionRecord]) -> list[Reply]:
    """The question "Is your idea like one of these?", read out: a key per idea, then one
    for "mine is different"."""
    data = {k: v for k, v in ctx.state.items() if k not in ("step", "call", "quiet")}
    data["ideas"] = [[idea.id, idea.shown_number, idea.text] for idea in alike]
    _go(ctx, "call_alike", **data)
    return [_alike_prompt(ctx)]


def _alike_prompt(ctx: Context) -> Reply:
    ideas = ctx.state.get("ideas", [])
    parts = [ctx.label("call_alike_ask")]
    for key, (_id, number, text) in enumerate(ideas, 1):
        parts.append(
            ctx.catalogue.text("call_alike_option", press=key, number=number, text=spoken(text))
        )
    parts.append(ctx.catalogue.text("call_alike_different", press=len(ideas) + 1))
    return Reply(" ".join(parts), key="call_alike")


def _on_alike(ctx: Context) -> list[Reply]:
    ideas = ctx.state.get("ideas", [])
    key = pressed(ctx.text) or ""
    if not key.isdigit() or not 1 <= int(key) <= len(ideas) + 1:
        return [ctx.say("call_bad_key"), _alike_prompt(ctx)]
    if int(key) <= len(ideas):
        idea_id, number, _text = ideas[int(key) - 1]
        if voting.record_vote(ctx, idea_id, AGREE) is None:
            _go(ctx, "call_menu")
            return [ctx.say("call_alike_voted", number=number), _menu(ctx)]
    return _store_idea(ctx)  # different, or the idea chosen can no longer take votes


def _store_idea(ctx: Context) -> list[Reply]:
    question_key = ctx.state.get("question", "")
    saved = store_contribution(
        ctx,
        "idea",
        ctx.state.get("draft", ""),
        ctx.state.get("message_id") or ctx.inbound.message_id,
        question_id=ctx.question_ids.get(question_key),
        earlier_redactions=tuple(ctx.state.get("redactions", ())),
    )
    _go(ctx, "call_menu")
    if saved.status != "visible":
        return [ctx.say("call_idea_pending"), _menu(ctx)]
    return [ctx.say("call_idea_saved", number=saved.shown_number), _menu(ctx)]


def _start_votes(ctx: Context) -> list[Reply]:
    chosen: list[int] = []
    for _ in range(IDEAS_PER_ROUND):
        # A pool of one: strictly the fewest votes first (then the oldest).
        idea = ctx.next_for_voting(exclude=tuple(chosen), pool=1)
        if idea is None:
            break
        chosen.append(idea.id)
    if not chosen:
        _go(ctx, "call_menu")
        return [ctx.say("call_vote_none"), _menu(ctx)]
    return _next_card(ctx, chosen, 0, lead=[ctx.say("call_vote_intro")])


def _next_card(
    ctx: Context, ideas: list[int], at: int, *, lead: list[Reply] | None = None
) -> list[Reply]:
    replies = list(lead or [])
    while at < len(ideas):
        idea = ctx.idea(ideas[at])
        if idea is not None and idea.status == "visible":
            _go(ctx, "call_vote", ideas=ideas, at=at)
            card = ctx.say("call_vote_card", number=idea.shown_number, text=spoken(idea.text))
            return [*replies, replace(card, quote=idea.text)]
        at += 1
    _go(ctx, "call_menu")
    return [*replies, ctx.say("call_vote_done"), _menu(ctx)]


def _on_vote(ctx: Context) -> list[Reply]:
    ideas, at = list(ctx.state.get("ideas", [])), int(ctx.state.get("at", 0))
    value = VOTE_VALUES.get(pressed(ctx.text, VOTE_WORDS) or "")
    if value is None or at >= len(ideas):
        return [ctx.say("call_bad_key"), *_next_card(ctx, ideas, at)]
    refused = voting.record_vote(ctx, ideas[at], value)
    return _next_card(ctx, ideas, at + 1, lead=[ctx.say(refused)] if refused else None)


def _on_forget(ctx: Context) -> list[Reply]:
    key = pressed(ctx.text, FORGET_WORDS)
    if key == "1":
        account.erase(ctx)
        return [ctx.say("call_forgotten")]
    if key == "2":
        _go(ctx, "call_menu")
        return [ctx.say("forget_kept"), _menu(ctx)]
    return [ctx.say("call_bad_key"), ctx.say("call_forget_ask")]


STEPS = {
    "call_consent": _on_consent,
    "call_menu": _on_menu,
    "call_question": _on_question,
    "call_idea": _on_idea,
    "call_confirm": _on_confirm,
    "call_alike": _on_alike,
    "call_vote": _on_vote,
    "call_forget": _on_forget,
}
