"""Reading a posted form safely: every malformed body is a 400 with a short reason.

aiohttp's `request.post()` raises whatever its decoders raise (UnicodeDecodeError for
non-UTF-8 bytes, ValueError or AssertionError for a broken multipart body), which the
server turns into a 500 with a traceback. `read_form` accepts what a browser sends
(urlencoded or multipart, UTF-8, text fields only), and refuses anything else with
`web.HTTPBadRequest` naming the problem, before any of it reaches the engine.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, web
from multidict import MultiDict

log = logging.getLogger(__name__)

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
MAX_FIELDS = 20  # a form page has three
MAX_FIELD_BYTES = 64 * 1024


class MalformedForm(web.HTTPBadRequest):
    """A body that is not a form a browser would send; its text is the short reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(text=f"{reason}\n")
        self.why = reason


async def read_form(request: web.Request) -> MultiDict[str]:
    """The posted text fields, or `MalformedForm` (400)."""
    charset = (request.charset or "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise _refused(request, "send the form in UTF-8")
    if request.content_type == URLENCODED:
        return _urlencoded(request, await request.read())
    if request.content_type == MULTIPART:
        return await _multipart(request)
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


async def _multipart(request: web.Request) -> MultiDict[str]:
    fields: MultiDict[str] = MultiDict()
    try:
        reader = await request.multipart()
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
    except web.HTTPException:
        raise
    except UnicodeDecodeError:
        raise _refused(request, "the form is not valid UTF-8") from None
    except Exception as error:
        # aiohttp's multipart reader reports a broken body in many ways (ValueError,
        # AssertionError, its own HttpProcessingError...): each is the body's fault.
        log.debug("multipart body refused: %s: %s", type(error).__name__, error)
        raise _refused(request, "the multipart form is malformed") from None
    return fields


def _refused(request: web.Request, reason: str) -> MalformedForm:
    log.info("refused a form posted to %s: %s", request.path, reason)
    return MalformedForm(reason)
