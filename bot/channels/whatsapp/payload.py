"""Reading a WhatsApp Cloud API webhook payload, with no I/O.

Each message in `entry[].changes[].value.messages[]` of type `text`, `interactive`
(`button_reply`, `list_reply`) or `button` becomes an `Inbound`; media and the like
become `AskForText`; `statuses[]` become `StatusReport`s; anything else is listed as
ignored. A sample payload, as Meta posts it:

    {"object": "whatsapp_business_account",
     "entry": [{"id": "102290129340398",
                "changes": [{"field": "messages",
                             "value": {"messaging_product": "whatsapp",
                                       "metadata": {"display_phone_number": "15550783881",
                                                    "phone_number_id": "106540352242922"},
                                       "contacts": [{"profile": {"name": "Amira"},
                                                     "wa_id": "447700900101"}],
                                       "messages": [{"from": "447700900101",
                                                     "id": "wamid.HBgMNDQ3NzAwOTAwMTAxFQIAEhgg",
                                                     "timestamp": "1764579600",
                                                     "type": "text",
                                                     "text": {"body": "Hello"}}]}}]}]}

A pressed reply button arrives as
`{"type": "interactive", "interactive": {"type": "button_reply",
"button_reply": {"id": "consent:yes", "title": "Yes"}}}`, a picked list row as
`"list_reply": {"id": ..., "title": ..., "description": ...}`, and a delivery report as
`{"statuses": [{"id": "wamid...", "status": "failed", "recipient_id": "447700900101",
"errors": [{"code": 131026, "title": "Message undeliverable"}]}]}`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.channels.kit import Malformed, Parsed
from handlers.types import Inbound

CHANNEL = "whatsapp"
OBJECT = "whatsapp_business_account"
NUMBERED_PREFIX = "n:"  # a choice whose payload was too long carries its position
MEDIA_TYPES = frozenset(
    {"image", "audio", "video", "document", "sticker", "location", "contacts", "reaction"}
)


@dataclass(frozen=True)
class AskForText:
    """Media or the like: answered once with a polite request for text."""

    sender: str
    message_id: str
    kind: str


@dataclass(frozen=True)
class StatusReport:
    """What became of a message Chorus sent."""

    recipient: str
    message_id: str
    status: str  # sent | delivered | read | failed
    error_codes: tuple[int, ...] = ()


def parse_payload(body: bytes, now: datetime, phone_number_id: str | None) -> Parsed:
    """The messages and events in a webhook body. `Malformed` when it is not JSON or
    not a WhatsApp Business payload; parts it does not understand are listed in
    `Parsed.ignored`."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Malformed("the body is not JSON") from None
    if not isinstance(data, dict) or data.get("object") != OBJECT:
        raise Malformed(f"not a WhatsApp payload (object is not {OBJECT!r})")
    entries = data.get("entry")
    if not isinstance(entries, list):
        raise Malformed("a WhatsApp payload without entry[]")
    inbounds: list[Inbound] = []
    events: list[object] = []
    ignored: list[str] = []
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            ignored.append("an entry without changes[]")
            continue
        for change in changes:
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict) or change.get("field") != "messages":
                ignored.append(f"a change of field {_field(change)!r}")
                continue
            ours = _metadata_id(value)
            if phone_number_id and ours and ours != phone_number_id:
                ignored.append(f"a change for another phone number id ({ours})")
                continue
            for message in _list(value, "messages"):
                _read_message(message, now, inbounds, events, ignored)
            for status in _list(value, "statuses"):
                report = _read_status(status)
                if report is None:
                    ignored.append("a status without id, status or recipient")
                else:
                    events.append(report)
            for error in _list(value, "errors"):
                code = error.get("code") if isinstance(error, dict) else None
                ignored.append(f"an error reported by WhatsApp (code {code})")
    return Parsed(tuple(inbounds), tuple(events), tuple(ignored))


def _field(change: object) -> object:
    return change.get("field") if isinstance(change, dict) else None


def _metadata_id(value: dict[str, Any]) -> str | None:
    metadata = value.get("metadata")
    found = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
    return str(found) if found else None


def _list(value: dict[str, Any], key: str) -> list[Any]:
    found = value.get(key)
    return found if isinstance(found, list) else []


def _read_message(
    message: object,
    now: datetime,
    inbounds: list[Inbound],
    events: list[object],
    ignored: list[str],
) -> None:
    if not isinstance(message, dict):
        ignored.append("a message that is not an object")
        return
    sender, message_id, kind = message.get("from"), message.get("id"), message.get("type")
    if not (isinstance(sender, str) and sender and isinstance(message_id, str) and message_id):
        ignored.append(f"a {kind} message without from or id")
        return
    text, payload = _content(message)
    if text is None and payload is None:
        if kind in MEDIA_TYPES:
            events.append(AskForText(sender, message_id, str(kind)))
        else:
            ignored.append(f"a message of type {kind!r}")
        return
    if payload is not None and payload.startswith(NUMBERED_PREFIX):
        text, payload = payload[len(NUMBERED_PREFIX) :], None
    inbounds.append(
        Inbound(
            channel=CHANNEL,
            sender=sender,
            message_id=message_id,
            received_at=now,
            text=text or "",
            payload=payload,
            raw=json.dumps(message, ensure_ascii=False),
        )
    )


def _content(message: dict[str, Any]) -> tuple[str | None, str | None]:
    """(typed text, pressed payload) of a message Chorus reads; (None, None) otherwise."""
    kind = message.get("type")
    if kind == "text":
        body = _dict(message, "text").get("body")
        return (body, None) if isinstance(body, str) else (None, None)
    if kind == "interactive":
        interactive = _dict(message, "interactive")
        reply = _dict(interactive, str(interactive.get("type")))
        if interactive.get("type") in ("button_reply", "list_reply"):
            pressed = reply.get("id")
            return (None, pressed) if isinstance(pressed, str) and pressed else (None, None)
        return None, None
    if kind == "button":  # a quick-reply button of a template message
        button = _dict(message, "button")
        pressed, label = button.get("payload"), button.get("text")
        if isinstance(pressed, str) and pressed:
            return None, pressed
        return (label, None) if isinstance(label, str) and label else (None, None)
    return None, None


def _dict(value: dict[str, Any], key: str) -> dict[str, Any]:
    found = value.get(key)
    return found if isinstance(found, dict) else {}


def _read_status(status: object) -> StatusReport | None:
    if not isinstance(status, dict):
        return None
    message_id, state = status.get("id"), status.get("status")
    recipient = status.get("recipient_id")
    if not all(isinstance(part, str) and part for part in (message_id, state, recipient)):
        return None
    codes = tuple(
        int(error["code"])
        for error in status.get("errors") or ()
        if isinstance(error, dict) and isinstance(error.get("code"), int)
    )
    return StatusReport(str(recipient), str(message_id), str(state), codes)
