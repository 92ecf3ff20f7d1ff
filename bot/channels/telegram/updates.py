"""Reading a Telegram update: what it asks Chorus to do, with no I/O.

A private text message or a button press becomes an `Inbound` for the engine; media gets
a request for text (a caption counts as text); a command in a group gets a note to
message the bot privately and nothing is kept; a person blocking or unblocking the bot
changes whether they can be reached; anything else is logged and acknowledged.

A sample update, as Telegram posts it to the webhook or returns it from getUpdates:

    {"update_id": 912000001,
     "message": {"message_id": 17, "date": 1764579600,
                 "from": {"id": 5550001, "is_bot": false, "first_name": "Amira",
                          "language_code": "en"},
                 "chat": {"id": 5550001, "type": "private", "first_name": "Amira"},
                 "text": "/start",
                 "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}

and a button press:

    {"update_id": 912000002,
     "callback_query": {"id": "4382", "chat_instance": "-81", "data": "consent:yes",
                        "from": {"id": 5550001, "is_bot": false, "first_name": "Amira"},
                        "message": {"message_id": 18, "date": 1764579601,
                                    "chat": {"id": 5550001, "type": "private"},
                                    "text": "Welcome ..."}}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import cast

from telegram import Bot, Chat, ChatMember, Message, Update

from handlers.types import Inbound

CHANNEL = "telegram"

# Update types Chorus asks Telegram for (webhook and polling alike).
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")

# Buttons whose payload is longer than Telegram's 64-byte callback_data carry their
# position instead; pressing one is read as typing that number.
NUMBERED_PREFIX = "n:"


class Action(Enum):
    HANDLE = "handle"  # hand the Inbound to the engine
    ASK_FOR_TEXT = "ask_for_text"  # media without a caption
    PRIVATE_ONLY = "private_only"  # a command in a group
    BLOCKED = "blocked"  # the person blocked the bot
    UNBLOCKED = "unblocked"  # ... and allowed it again
    IGNORE = "ignore"  # acknowledged and logged, nothing else


@dataclass(frozen=True)
class Incoming:
    action: Action
    update_id: int
    chat_id: int | None = None
    sender: str | None = None
    language: str | None = None
    inbound: Inbound | None = None
    callback_query_id: str | None = None
    pressed_message_id: int | None = None  # the message whose button was pressed
    reply_to: int | None = None  # the message a group note answers
    reason: str = ""


def parse_update(data: object, bot: Bot) -> Update | None:
    """The Update in a webhook body, or None when it is not a valid update."""
    if not isinstance(data, dict) or type(data.get("update_id")) is not int:
        return None
    try:
        return Update.de_json(data, bot)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _raw(update: Update, raw: str | None) -> str:
    # A webhook's update comes with its JSON (kept as received); a polled one is
    # serialised again, which costs far more than the rest of classifying it.
    return raw if raw is not None else json.dumps(update.to_dict(), ensure_ascii=False, default=str)


def _is_private(chat: Chat | None) -> bool:
    return chat is not None and chat.type == Chat.PRIVATE


def _is_command(message: Message) -> bool:
    return bool(message.text and message.text.lstrip().startswith("/"))


def classify(update: Update, raw: str | None = None) -> Incoming:
    """What to do with an update; `raw`, its JSON as received (else made from it), is
    kept with a message in case handling it fails."""
    update_id = update.update_id
    if update.callback_query is not None:
        return _classify_press(update, raw)
    if update.message is not None:
        return _classify_message(update, update.message, raw)
    if update.my_chat_member is not None:
        member = update.my_chat_member
        if not _is_private(member.chat):
            return Incoming(Action.IGNORE, update_id, reason="membership change in a group")
        status = member.new_chat_member.status
        action = Action.BLOCKED if status == ChatMember.BANNED else Action.UNBLOCKED
        return Incoming(action, update_id, chat_id=member.chat.id, sender=str(member.from_user.id))
    if update.edited_message is not None:
        return Incoming(Action.IGNORE, update_id, reason="an edited message")
    return Incoming(Action.IGNORE, update_id, reason="an update type Chorus does not use")


def _classify_message(update: Update, message: Message, raw: str | None) -> Incoming:
    update_id = update.update_id
    user = message.from_user
    if user is None or user.is_bot:
        return Incoming(Action.IGNORE, update_id, reason="a message not from a person")
    language = user.language_code
    if not _is_private(message.chat):
        if _is_command(message):
            return Incoming(
                Action.PRIVATE_ONLY,
                update_id,
                chat_id=message.chat.id,
                language=language,
                reply_to=message.message_id,
            )
        return Incoming(Action.IGNORE, update_id, reason="a group message")
    text = message.text if message.text is not None else message.caption
    if text is None:
        if message.effective_attachment is None:
            return Incoming(Action.IGNORE, update_id, reason="a service message")
        return Incoming(
            Action.ASK_FOR_TEXT,
            update_id,
            chat_id=message.chat.id,
            sender=str(user.id),
            language=language,
        )
    inbound = Inbound(
        channel=CHANNEL,
        sender=str(user.id),
        message_id=str(update_id),
        received_at=message.date or datetime.now(UTC),
        text=text,
        language_hint=language,
        raw=_raw(update, raw),
        buttons=True,
    )
    return Incoming(
        Action.HANDLE,
        update_id,
        chat_id=message.chat.id,
        sender=str(user.id),
        language=language,
        inbound=inbound,
    )


def _classify_press(update: Update, raw: str | None) -> Incoming:
    query = update.callback_query
    assert query is not None
    update_id = update.update_id
    message = query.message
    chat = message.chat if message is not None else None
    if chat is not None and not _is_private(chat):
        return Incoming(
            Action.IGNORE, update_id, callback_query_id=query.id, reason="a press in a group"
        )
    if not query.data or query.from_user.is_bot:
        return Incoming(
            Action.IGNORE, update_id, callback_query_id=query.id, reason="a press without data"
        )
    text, pressed = "", cast(str | None, query.data)
    if query.data.startswith(NUMBERED_PREFIX):
        text, pressed = query.data[len(NUMBERED_PREFIX) :], None
    inbound = Inbound(
        channel=CHANNEL,
        sender=str(query.from_user.id),
        message_id=str(update_id),
        received_at=datetime.now(UTC),
        text=text,
        payload=pressed,
        language_hint=query.from_user.language_code,
        raw=_raw(update, raw),
        buttons=True,
    )
    return Incoming(
        Action.HANDLE,
        update_id,
        chat_id=chat.id if chat is not None else query.from_user.id,
        sender=str(query.from_user.id),
        language=query.from_user.language_code,
        inbound=inbound,
        callback_query_id=query.id,
        pressed_message_id=message.message_id if message is not None else None,
    )
