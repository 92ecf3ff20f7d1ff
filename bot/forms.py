"""Reading a posted form's body safely: every malformed body is `Malformed` (a 400 on the
channel kit's path) with a short reason.

aiohttp's `request.post()` raises whatever its decoders raise (UnicodeDecodeError for
non-UTF-8 bytes, ValueError or AssertionError for a broken multipart body), which the
server turns into a 500 with a traceback. `read_form` accepts what a browser sends
(urlencoded or multipart, UTF-8, text fields only) from the body the kit has already
read, and refuses anything else naming the problem, before any of it reaches the engine.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, MultipartReader, StreamReader, web
from aiohttp.base_protocol import BaseProtocol
from multidict import MultiDict

from bot.channels.kit import Malformed

log = logging.getLogger(__name__)

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
MAX_FIELDS = 20  # a form page has three
MAX_FIELD_BYTES = 64 * 1024


async def read_form(request: web.Request, body: bytes) -> MultiDict[str]:
    """The text fields of `body`, posted with `request`'s headers, or `Malformed`."""
    charset = (request.charset or "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise _refused(request, "send the form in UTF-8")
    if request.content_type == URLENCODED:
        return _urlencoded(request, body)
    if request.content_type == MULTIPART:
        return await _multipart(request, body)
    raise _refused(request, "send the form as a browser does (urlencoded or multipart)")


def _urlencoded(request: web.Request, body: bytes) -> MultiDict[str]:
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError:
        raise _refused(request, "the form is not valid UTF-8") from None
    except ValueError:
        raise _refused(request, "the form has too many fields") from None
    return MultiDict(pairs)


async def _multipart(request: web.Request, body: bytes) -> MultiDict[str]:
    fields: MultiDict[str] = MultiDict()
    try:
        reader = MultipartReader(request.headers, _stream_of(body))
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.filename is not None:
                raise _refused(request, "the form may hold text fields only")
            if part.name is None:
                raise _refused(request, "a form field has no name")
            if len(fields) >= MAX_FIELDS:
                raise _refused(request, "the form has too many fields")
            raw = await part.read(decode=True)
            if len(raw) > MAX_FIELD_BYTES:
                raise _refused(request, "a form field is too long")
            part_charset = (part.get_charset(default="utf-8") or "utf-8").lower()
            if part_charset not in ("utf-8", "utf8"):
                raise _refused(request, "send the form in UTF-8")
            fields.add(part.name, raw.decode("utf-8"))
    except Malformed:
        raise
    except UnicodeDecodeError:
        raise _refused(request, "the form is not valid UTF-8") from None
    except Exception as error:
        # aiohttp's multipart reader reports a broken body in many ways (ValueError,
        # AssertionError, its own HttpProcessingError...): each is the body's fault.
        log.debug("multipart body refused: %s: %s", type(error).__name__, error)
        raise _refused(request, "the multipart form is malformed") from None
    return fields


def _stream_of(body: bytes) -> StreamReader:
    """`body` as the stream aiohttp's multipart reader reads (the request's own stream
    has been read already, to refuse an oversized body before anything else)."""
    loop = asyncio.get_running_loop()
    # Its own protocol, with no transport: nothing here can pause the connection.
    stream = StreamReader(BaseProtocol(loop), limit=max(len(body), 2**16), loop=loop)
    stream.feed_data(body)
    stream.feed_eof()
    return stream


def _refused(request: web.Request, reason: str) -> Malformed:
    log.info("refused a form posted to %s: %s", request.path, reason)
    return Malformed(reason)
