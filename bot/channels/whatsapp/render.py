"""Replies as WhatsApp Cloud API messages, within WhatsApp's limits.

1–3 choices are interactive reply buttons (titles up to 20 characters), 4–10 an
interactive list (row titles up to 24, the list's button up to 20), and more than 10 a
numbered text the person answers by typing a number. An interactive body holds up to
1,024 characters and a text up to 4,096: longer text goes first as text messages, split
between paragraphs where it can. Each message is the part of the request after
`messaging_product` and `to`, e.g. `{"type": "text", "text": {"body": "..."}}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bot.channels.chat_sends import numbered
from bot.channels.whatsapp.payload import NUMBERED_PREFIX
from handlers.types import Choice, Reply

TEXT_LIMIT = 4096
INTERACTIVE_BODY_LIMIT = 1024
BUTTON_TITLE_LIMIT = 20
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
LIST_BUTTON_LIMIT = 20
BUTTON_ID_LIMIT = 256
ROW_ID_LIMIT = 200
MAX_BUTTONS = 3
MAX_ROWS = 10
LIST_BUTTON = "Choose"
ELLIPSIS = "\u2026"

Message = dict[str, Any]


def render(replies: Iterable[Reply]) -> list[Message]:
    messages: list[Message] = []
    for reply in replies:
        messages.extend(render_one(reply))
    return messages


def render_one(reply: Reply) -> list[Message]:
    text = reply.text.strip() or ELLIPSIS
    choices = reply.choices
    if attachment := reply.attachment:  # files are not sent on WhatsApp; say what it was
        text = f"{text}\n\n({attachment.caption or attachment.filename})"
    if not choices or len(choices) > MAX_ROWS:
        text = numbered(text, [choice.label for choice in choices])
        return [_text(part) for part in split(text, TEXT_LIMIT)]
    *before, body = split(text, INTERACTIVE_BODY_LIMIT, first_limit=TEXT_LIMIT)
    messages = [_text(part) for part in before]
    if len(choices) <= MAX_BUTTONS:
        messages.append(_buttons(body, choices))
    else:
        messages.append(_list(body, choices))
    return messages


def plain_text(message: Message) -> str | None:
    """What a rendered message says, its choices as numbered lines (for keeping it to
    send later as a plain message); None for a template."""
    if message["type"] == "text":
        return str(message["text"]["body"])
    if message["type"] != "interactive":
        return None
    interactive = message["interactive"]
    action = interactive["action"]
    if interactive["type"] == "button":
        labels = [button["reply"]["title"] for button in action["buttons"]]
    else:
        rows = [row for section in action["sections"] for row in section["rows"]]
        labels = [row.get("description") or row["title"] for row in rows]
    return numbered(str(interactive["body"]["text"]), labels)


def _text(body: str) -> Message:
    return {"type": "text", "text": {"preview_url": False, "body": body}}


def _buttons(body: str, choices: Sequence[Choice]) -> Message:
    buttons = [
        {
            "type": "reply",
            "reply": {
                "id": _choice_id(choice, number, BUTTON_ID_LIMIT),
                "title": shorten(choice.label, BUTTON_TITLE_LIMIT),
            },
        }
        for number, choice in enumerate(choices, 1)
    ]
    return {
        "type": "interactive",
        "interactive": {"type": "button", "body": {"text": body}, "action": {"buttons": buttons}},
    }


def _list(body: str, choices: Sequence[Choice]) -> Message:
    rows = []
    for number, choice in enumerate(choices, 1):
        row = {
            "id": _choice_id(choice, number, ROW_ID_LIMIT),
            "title": shorten(choice.label, ROW_TITLE_LIMIT),
        }
        if len(choice.label) > ROW_TITLE_LIMIT:  # the whole label, underneath
            row["description"] = shorten(choice.label, ROW_DESCRIPTION_LIMIT)
        rows.append(row)
    return {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": body},
            "action": {
                "button": shorten(LIST_BUTTON, LIST_BUTTON_LIMIT),
                "sections": [{"rows": rows}],
            },
        },
    }


def _choice_id(choice: Choice, number: int, limit: int) -> str:
    """The choice's payload, or its position when the payload is too long (read back as
    typing that number)."""
    if len(choice.payload) <= limit and not choice.payload.startswith(NUMBERED_PREFIX):
        return choice.payload
    return f"{NUMBERED_PREFIX}{number}"


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def split(text: str, limit: int, *, first_limit: int | None = None) -> list[str]:
    """`text` in parts: the last within `limit`, the ones before it within `first_limit`
    (default `limit`), cut between paragraphs, then lines, then words where possible."""
    if len(text) <= limit:
        return [text]
    cut = _cut_point(text, limit)
    last = text[cut:].strip()
    return [*_chunks(text[:cut].rstrip(), first_limit or limit), *([last] if last else [])]


def _cut_point(text: str, limit: int) -> int:
    """Where the last `limit` characters of `text` may start: after a paragraph or line
    break or a space inside that window, else exactly there."""
    window_start = len(text) - limit
    for separator in ("\n\n", "\n", " "):
        found = text.find(separator, window_start)
        if found != -1:
            return found + len(separator)
    return window_start


def _chunks(text: str, limit: int) -> list[str]:
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = max(rest.rfind(sep, 0, limit) for sep in ("\n\n", "\n", " "))
        cut = cut if cut > 0 else limit
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        chunks.append(rest)
    return chunks
