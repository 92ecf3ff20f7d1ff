"""The plain web form: take part from any browser, with no account and no JavaScript.

GET /take-part shows the conversation's start; each POST /take-part is one message (typed
text, or a pressed choice button) and answers with the replies as a page. The person is
a random session id kept in a cookie (HttpOnly, SameSite=Strict) and hashed into a
pseudonym like any platform id. Each page carries a one-time form id, used as the
message id, so a double-clicked or resubmitted form is applied once.

A post takes the channel kit's one webhook path (bot/channels/kit.py): the Origin check is
its `verify` (403), the form and its token are its `parse` (400), and the store's refusal
is the kit's 503, shown here as a page that gives the typed words back.
"""

from __future__ import annotations

import html
import logging
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import aiohttp
from aiohttp import web

from bot.channels.kit import Declaration, Forged, Handled, Malformed, Parsed, WebhookChannel
from bot.form_tokens import FormTokens, same_origin
from bot.forms import read_form
from bot.paper_form import render_paper_form
from bot.services import Services
from handlers.catalogue import Catalogue
from handlers.settings import Strict
from handlers.types import Inbound, Outcome, Reply

log = logging.getLogger(__name__)

CHANNEL = "web"
PATH = "/take-part"
PRINT_PATH = PATH + "/print"
# Replies after which the typed text is put back in the box, so nothing must be retyped.
KEEP_TEXT_AFTER = frozenset(
    {"too_long", "empty", "store_busy", "unknown_command", "out_of_range", "nothing_to_skip"}
)
MAX_FORM_BYTES = 1024 * 1024  # a box of up to 100,000 characters, percent-encoded
COOKIE = "chorus_session"
SESSION = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer a browser posts "Origin: null", and
    # the Origin check below could not tell our own page from a sandboxed stranger.
    "Referrer-Policy": "same-origin",
}
STYLE = (
    "body{font:1.1rem/1.5 system-ui,sans-serif;max-width:36rem;margin:1rem auto;"
    "padding:0 1rem;color:#111}p{white-space:pre-wrap}.choices button{display:block;"
    "width:100%;margin:.4rem 0;padding:.7rem;font-size:1.1rem}textarea{width:100%;"
    "font-size:1.1rem}.send{margin-top:.4rem;padding:.6rem 1.2rem;font-size:1.1rem}"
)


class WebSettings(Strict):
    enabled: bool = True


def _page(
    title: str,
    replies: Sequence[Reply],
    form_id: str,
    catalogue: Catalogue,
    *,
    start: bool = False,
    typed: str = "",
    limit: int | None = None,
) -> str:
    parts = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts += [f"<p>{html.escape(reply.text)}</p>" for reply in replies]
    hidden = f'<input type="hidden" name="form_id" value="{form_id}">'
    choices = next((reply.choices for reply in reversed(replies) if reply.choices), ())
    if start:
        label = html.escape(catalogue.text("web_start_button"))
        parts.append(
            f'<form method="post" class="choices">{hidden}'
            f'<button name="text" value="start">{label}</button></form>'
        )
    if choices:
        buttons = "".join(
            f'<button name="payload" value="{html.escape(choice.payload)}">'
            f"{html.escape(choice.label)}</button>"
            for choice in choices
        )
        parts.append(f'<form method="post" class="choices">{hidden}{buttons}</form>')
    label = html.escape(catalogue.text("web_type_here"))
    if limit:
        limit_text = html.escape(catalogue.text("web_limit", limit=f"{limit:,}"))
        label += f' <small id="limit">({limit_text})</small>'
    send = html.escape(catalogue.text("web_send"))
    parts.append(
        f'<form method="post">{hidden}<label for="text">{label}</label>'
        f'<textarea id="text" name="text" rows="4" aria-describedby="limit">'
        f"{html.escape(typed)}</textarea>"
        f'<button class="send">{send}</button></form></body></html>'
    )
    return "".join(parts)


class WebChannel(WebhookChannel):
    name = CHANNEL
    path = PATH
    page_path = PATH  # a page for people, named in the start-up log
    max_body_bytes = MAX_FORM_BYTES

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.title = services.settings.consultation.consultation.name
        key = services.engine.pseudonym("web-form-token", "key")  # keyed by CHORUS_SECRET
        self.tokens = FormTokens(bytes.fromhex(key))

    def extra_routes(self) -> Sequence[web.RouteDef]:
        return (
            web.get(PATH, self.show),
            web.get(PRINT_PATH, self.print_form),
            web.get("/", self.to_form),
        )

    async def to_form(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(PATH)

    async def print_form(self, request: web.Request) -> web.Response:
        config = self.services.settings.consultation
        body = render_paper_form(config, self.services.engine.clock())
        return web.Response(text=body, content_type="text/html", charset="utf-8", headers=HEADERS)

    async def show(self, request: web.Request) -> web.Response:
        catalogue = Catalogue()
        start = Reply(catalogue.text("web_start", name=self.title), key="web_start")
        session = request.cookies.get(COOKIE, "")
        if not SESSION.match(session):
            session = secrets.token_urlsafe(32)  # only a cookie: no participant before consent
        return self._respond(request, [start], start=True, session=session)

    # The kit's path: verify → parse → the engine → answer (or refusal) -----------------

    async def verify(self, request: web.Request, body: bytes) -> None:
        origin, referer = request.headers.get("Origin"), request.headers.get("Referer")
        if not same_origin(origin, referer, request.scheme, request.host):
            raise Forged("posts from other sites are refused")

    async def parse(self, request: web.Request, body: bytes) -> Parsed:
        form = await read_form(request, body)
        session = request.cookies.get(COOKIE, "")
        form_id = None
        if SESSION.match(session):
            form_id = self.tokens.verify(str(form.get("form_id", "")), session, _now())
        if form_id is None:
            raise Malformed("this form has expired; please open the page again")
        payload = form.get("payload")
        inbound = Inbound(
            channel=CHANNEL,
            sender=session,
            message_id=form_id,
            received_at=self.services.engine.clock(),
            text=str(form.get("text", "")) if payload is None else "",
            payload=str(payload) if payload is not None else None,
            buttons=True,
        )
        return Parsed(inbounds=(inbound,))

    def answer(
        self, request: web.Request, parsed: Parsed, handled: Sequence[Handled]
    ) -> web.StreamResponse:
        [item] = handled
        replies = self._replies(item.outcome)
        kept = item.inbound.text if any(r.key in KEEP_TEXT_AFTER for r in replies) else ""
        return self._respond(request, replies, session=item.inbound.sender, typed=kept)

    def refusal(
        self, request: web.Request, status: int, reason: str, parsed: Parsed | None
    ) -> web.StreamResponse:
        if parsed is None or not parsed.inbounds:  # not a form of ours: a short reason
            return web.Response(status=status, text=f"{reason}\n")
        [inbound] = parsed.inbounds  # the store refused it: the page, with the words kept
        busy = Reply(Catalogue().text("store_busy"), key="store_busy")
        return self._respond(
            request, [busy], status=status, session=inbound.sender, typed=inbound.text
        )

    @staticmethod
    def _replies(outcome: Outcome) -> list[Reply]:
        if outcome.duplicate and not outcome.replies:  # resent after its replies were dropped
            return [Reply(Catalogue().text("web_already_sent"), key="web_already_sent")]
        return list(outcome.replies)

    def _respond(
        self,
        request: web.Request,
        replies: Sequence[Reply],
        *,
        status: int = 200,
        session: str | None = None,
        start: bool = False,
        typed: str = "",
    ) -> web.Response:
        limit = self.services.settings.consultation.consultation.max_text_length
        token = self.tokens.issue(session, _now()) if session else ""
        body = _page(
            self.title,
            replies,
            token,
            Catalogue(),
            start=start,
            typed=typed,
            limit=limit,
        )
        response = web.Response(
            text=body, status=status, content_type="text/html", charset="utf-8", headers=HEADERS
        )
        if session and request.cookies.get(COOKIE) != session:
            response.set_cookie(
                COOKIE,
                session,
                httponly=True,
                samesite="Strict",
                secure=request.secure,
                max_age=180 * 24 * 3600,
                path=PATH,
            )
        return response


def _now() -> datetime:
    return datetime.now(UTC)  # tokens expire in real time, whatever the engine's clock


def create(services: Services, http: aiohttp.ClientSession) -> WebChannel | None:
    settings: WebSettings = DECLARATION.settings_from(services.settings)
    if not settings.enabled:
        log.info("The web form is off: set channels.web.enabled to true to serve %s", PATH)
        return None
    return WebChannel(services)


DECLARATION = Declaration(
    name=CHANNEL,
    medium="web",
    create=create,
    settings=WebSettings,
)
