"""The message types every channel shares: what comes in, and what goes back out.

An adapter turns its medium's format into an `Inbound` and renders each `Reply` in its
own way (inline buttons, a numbered SMS menu, HTML, a numbered list in the terminal).
These are plain frozen values; nothing here talks to the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Inbound:
    """One message from a person, in any channel."""

    channel: str
    sender: str  # the platform's id for the person; hashed, never stored
    message_id: str  # the channel's id for this message, unique within the channel
    received_at: datetime
    text: str = ""
    payload: str | None = None  # the data of a pressed button, when there is one
    language_hint: str | None = None  # e.g. Telegram's language_code
    assisted: bool = False  # entered by a community worker on someone's behalf
    # The channel shows a reply's choices as buttons to press (not numbered lines), so a
    # wrong typed answer is told to choose a button rather than a number.
    buttons: bool = False
    raw: str | None = None  # the provider's payload, kept only if handling fails
    # The sending channel's declared medium (chat, sms, call, web, public, terminal):
    # what the core keys behaviour on, never the channel's name.
    medium: str = "chat"


# Media whose channels can send a message later, outside a conversation (the outbox's
# follow-ups): news about one's ideas is offered only there. The web form, the terminal,
# calls and public posts only answer; an address kept for news there would never be used.
NEWS_MEDIA = frozenset({"chat", "sms"})


@dataclass(frozen=True)
class Choice:
    """One option of a reply. `payload` is what comes back when it is picked."""

    label: str
    payload: str
    short: str | None = None  # compact label for SMS and voice menus

    @property
    def compact(self) -> str:
        return self.short or self.label


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str
    caption: str = ""


@dataclass(frozen=True)
class Reply:
    """Something to say back. `replaces_previous` hints that it continues the previous
    card (the next idea to vote on), so a channel that can edit messages edits instead
    of sending a new one."""

    text: str
    choices: tuple[Choice, ...] = ()
    attachment: Attachment | None = None
    replaces_previous: bool = False
    key: str = ""  # which catalogue message this is, for tests and per-channel rendering
    # A participant's own words quoted inside `text` (an idea shown for voting), which a
    # channel with a length limit (SMS) may shorten with an ellipsis.
    quote: str = ""


@dataclass(frozen=True)
class Outcome:
    """What handling one inbound message produced."""

    replies: tuple[Reply, ...] = ()
    duplicate: bool = False  # the message id was already applied; nothing changed
    opted_out: bool = False  # the person opted out; the channel must send nothing


@dataclass(frozen=True)
class PublicPost:
    """A public post (e.g. on X) that carries the consultation's hashtag.

    handlers/public.py gives it its meaning: an idea, a comment on a stored post, or an
    endorsement (a repost) of one.
    """

    channel: str
    post_id: str
    author_id: str  # hashed like any platform id; no handle or name is kept ("" if unknown)
    text: str
    created_at: datetime
    question_key: str | None = None
    reposted_id: str | None = None  # set for a retweet: an endorsement of that post
    reply_to_id: str | None = None  # set for a reply: a comment on that post
    quoted_id: str | None = None  # set for a quote post: a comment on that post
    conversation_id: str | None = None  # the post that started the thread
    language_hint: str | None = None
    metrics: dict = field(default_factory=dict)  # likes, reposts, replies, quotes
    # Posts this one refers to, as the platform sent them along (X's "includes"), so an
    # original not stored yet can be stored before a repost of it or a reply to it.
    referenced: tuple[PublicPost, ...] = ()
