"""Replies as text messages: choices on one numbered line ("Reply 1 Agree, 2 Disagree,
3 Skip"), the replies to one message combined into as few SMS as sensible, and no SMS
over two segments.

A reply that is too long on its own has its quoted idea shortened with an ellipsis; one
with nothing to shorten (a long privacy notice in the configuration, say) is sent as
several messages, split between paragraphs, sentences or words, so nothing is lost.
A follow-up comes from the outbox as bare text, without its quote; the participant's
words in it are the part in double quotes ('we joined it with idea 7: "..."').
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.channels.sms_segments import fits, gsm_friendly
from handlers.catalogue import Catalogue
from handlers.types import Reply

MAX_SEGMENTS = 2
ELLIPSIS = "..."  # three GSM-7 full stops: the one-character ellipsis would force UCS-2

_LINES = re.compile(r"\n+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_SPACES = re.compile(r"\s+")
_IN_QUOTES = re.compile(r'["\u201c](.+)["\u201d]', re.DOTALL)  # first quote mark to last


def choice_line(reply: Reply) -> str:
    """The numbered choices of a reply, or "" when there are none to list.

    A yes/no question already says "Reply YES or NO" in its text, so it gets no numbered
    line (typing 1 or 2 still works, as on every channel).
    """
    if not reply.choices or _asks_yes_or_no(reply):
        return ""
    items = ", ".join(f"{n} {choice.compact}" for n, choice in enumerate(reply.choices, 1))
    return Catalogue().text("sms_choices", choices=items)


def _asks_yes_or_no(reply: Reply) -> bool:
    return [choice.payload.rsplit(":", 1)[-1] for choice in reply.choices] == ["yes", "no"]


@dataclass(frozen=True)
class _Block:
    """One reply on its way to becoming SMS text."""

    text: str
    quote: str
    line: str

    def render(self, quote: str | None = None) -> str:
        text = self.text
        if quote is not None:
            head, _, tail = text.rpartition(self.quote)
            text = head + quote + tail
        return gsm_friendly("\n".join(part for part in (text, self.line) if part))


def _block(reply: Reply) -> _Block:
    text = reply.text or (reply.attachment.caption if reply.attachment else "")
    quote = reply.quote if reply.quote and reply.quote in text else ""
    if not reply.quote and (quoted := _IN_QUOTES.search(text)):
        quote = quoted.group(1)
    return _Block(text, quote, choice_line(reply))


def _cut(quote: str, length: int) -> str:
    """The first `length` characters of `quote`, back to a word boundary, plus "..."."""
    head = quote[:length]
    if length < len(quote) and not quote[length].isspace() and " " in head.strip():
        head = head.rstrip().rsplit(None, 1)[0]
    return head.rstrip(" ,;:.-") + ELLIPSIS


def _shortened(block: _Block, max_segments: int) -> str | None:
    """The block with its quote cut to the longest length that fits, or None."""
    if not fits(block.render(_cut(block.quote, 0)), max_segments):
        return None
    low, high = 0, len(block.quote) - 1  # the longest cut that fits lies in [low, high]
    while low < high:
        middle = (low + high + 1) // 2
        if fits(block.render(_cut(block.quote, middle)), max_segments):
            low = middle
        else:
            high = middle - 1
    return block.render(_cut(block.quote, low))


def _pieces(text: str, max_segments: int) -> list[str]:
    """`text` split into parts that each fit: between lines, then sentences, then words."""
    if fits(text, max_segments):
        return [text]
    for splitter, joiner in ((_LINES, "\n"), (_SENTENCE_END, " "), (_SPACES, " ")):
        units = [unit for unit in splitter.split(text) if unit.strip()]
        if len(units) > 1:
            pieces = (piece for unit in units for piece in _pieces(unit, max_segments))
            return list(_pack(pieces, max_segments, joiner))
    # One unbroken word longer than the limit: cut it by characters.
    cut = next(n for n in range(len(text) - 1, 0, -1) if fits(text[:n], max_segments))
    return [text[:cut], *_pieces(text[cut:], max_segments)]


def _pack(parts: Iterable[str], max_segments: int, joiner: str) -> Iterable[str]:
    """Consecutive parts joined while the result still fits."""
    current = ""
    for part in parts:
        if current and fits(current + joiner + part, max_segments):
            current += joiner + part
            continue
        if current:
            yield current
        current = part
    if current:
        yield current


def _fit(block: _Block, max_segments: int) -> list[str]:
    whole = block.render()
    if fits(whole, max_segments):
        return [whole]
    if block.quote:
        shortened = _shortened(block, max_segments)
        if shortened is not None:
            return [shortened]
    return _pieces(whole, max_segments)


def render_sms(replies: Iterable[Reply], max_segments: int = MAX_SEGMENTS) -> list[str]:
    """The text messages to send for `replies`, in order, none over `max_segments`."""
    fitted = [part for reply in replies for part in _fit(_block(reply), max_segments)]
    return list(_pack(fitted, max_segments, "\n"))
