"""Turning replies into Telegram operations, with no I/O: messages with inline keyboards,
an edit of the pressed message for the next idea to vote on, photos and documents.

After a button press, the pressed message either becomes the next card (a reply marked
`replaces_previous`) or loses its keyboard, so only the newest question has buttons and
an old button cannot be pressed by mistake.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.channels.chat_sends import numbered
from bot.channels.telegram.updates import NUMBERED_PREFIX
from handlers.types import Attachment, Choice, Reply

TEXT_LIMIT = 4096  # characters in one message
CAPTION_LIMIT = 1024  # characters in a photo or document caption
CALLBACK_DATA_LIMIT = 64  # bytes of callback_data


@dataclass(frozen=True)
class SendText:
    text: str
    keyboard: InlineKeyboardMarkup | None = None
    reply_to: int | None = None


@dataclass(frozen=True)
class EditText:
    message_id: int
    text: str
    keyboard: InlineKeyboardMarkup | None = None


@dataclass(frozen=True)
class ClearKeyboard:
    message_id: int


@dataclass(frozen=True)
class SendFile:
    attachment: Attachment
    caption: str = ""
    keyboard: InlineKeyboardMarkup | None = None

    @property
    def is_photo(self) -> bool:
        return self.attachment.mime_type.startswith("image/")


@dataclass(frozen=True)
class AnswerPress:
    callback_query_id: str


Operation = SendText | EditText | ClearKeyboard | SendFile | AnswerPress


def plain_text(operation: Operation) -> str | None:
    """What a message being sent says, its buttons as numbered lines (for keeping it to
    send later as a plain message); None for what only acts on an earlier message."""
    if isinstance(operation, SendText | EditText):
        text = operation.text
    elif isinstance(operation, SendFile):
        text = operation.caption or operation.attachment.caption or operation.attachment.filename
    else:
        return None
    buttons = operation.keyboard.inline_keyboard if operation.keyboard else ()
    labels = [button.text for row in buttons for button in row if button.callback_data]
    return numbered(text, labels)


def callback_data(choice: Choice, number: int) -> str:
    """The button's payload, or its number when the payload is too long for Telegram."""
    if len(choice.payload.encode("utf-8")) <= CALLBACK_DATA_LIMIT:
        return choice.payload
    return f"{NUMBERED_PREFIX}{number}"


def keyboard(choices: Sequence[Choice]) -> InlineKeyboardMarkup | None:
    """Buttons in rows: three short labels to a row, two medium ones, else one."""
    if not choices:
        return None
    longest = max(len(choice.label) for choice in choices)
    per_row = 3 if longest <= 12 else 2 if longest <= 20 else 1
    buttons = [
        InlineKeyboardButton(choice.label, callback_data=callback_data(choice, number))
        for number, choice in enumerate(choices, 1)
    ]
    return InlineKeyboardMarkup(
        [buttons[start : start + per_row] for start in range(0, len(buttons), per_row)]
    )


def link_keyboard(label: str, url: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, url=url)]])


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut at a line break or space when possible."""
    pieces = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip("\n ")
    pieces.append(rest)
    return pieces


def _send_reply(reply: Reply) -> list[Operation]:
    markup = keyboard(reply.choices)
    if reply.attachment is None:
        pieces = split_text(reply.text or " ")
        texts: list[Operation] = [SendText(piece) for piece in pieces[:-1]]
        return [*texts, SendText(pieces[-1], markup)]
    attachment = reply.attachment
    caption = attachment.caption or reply.text
    operations: list[Operation] = []
    if reply.text and reply.text != caption:
        operations += [SendText(piece) for piece in split_text(reply.text)]
    if len(caption) > CAPTION_LIMIT:
        operations += [SendText(piece) for piece in split_text(caption)]
        caption = ""
    return [*operations, SendFile(attachment, caption, markup)]


def plan(replies: Sequence[Reply], *, pressed_message_id: int | None = None) -> list[Operation]:
    """The operations that show `replies`; `pressed_message_id` is set for a button press."""
    operations: list[Operation] = []
    edited = False
    for reply in replies:
        can_edit = (
            pressed_message_id is not None
            and reply.replaces_previous
            and not edited
            and reply.attachment is None
            and len(reply.text) <= TEXT_LIMIT
        )
        if can_edit:
            assert pressed_message_id is not None
            operations.append(EditText(pressed_message_id, reply.text, keyboard(reply.choices)))
            edited = True
        else:
            operations += _send_reply(reply)
    if pressed_message_id is not None and not edited:
        operations.insert(0, ClearKeyboard(pressed_message_id))
    return operations
