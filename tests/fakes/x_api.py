"""A local fake of the parts of the X API v2 Chorus uses, served over real HTTP on a
random port: recent search (pagination with next_token, since_id, requested fields and
expansions, posts shown late), the filtered stream (newline-delimited JSON, keep-alive
blank lines, drops mid-stream), its rules, post lookup with public metrics, bearer-token
checks, and injected errors (401, 403 client-not-enrolled, 429 with x-rate-limit-reset).

Answers follow the shapes of X's documentation: e.g. a search page is
{"data": [...], "includes": {"tweets": [...]}, "meta": {"newest_id", "oldest_id",
"result_count", "next_token"}}; an error is {"title", "detail", "type", ...}.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from tests.fakes import html_error

KEEPALIVE = "keep-alive"
DROP = "drop"  # the connection breaks mid-stream (no clean end)
CLOSE = "close"  # X ends the stream cleanly
HOLD = "hold"  # keep the connection open with keep-alives until the fake closes

UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
NOT_ENROLLED = {
    "client_id": "12262375",
    "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use "
    "keys and tokens from a Twitter developer App that is attached to a Project. You can "
    "create a project via the developer portal.",
    "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
    "title": "Client Forbidden",
    "required_enrollment": "Appropriate Level of API Access",
    "reason": "client-not-enrolled",
    "type": "https://api.twitter.com/2/problems/client-forbidden",
}
TOO_MANY = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}


@dataclass
class Failure:
    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)
    html: bool = False  # an HTML page, as a proxy in front of X answers while it is down


@dataclass
class Call:
    endpoint: str
    query: dict[str, str]


def rate_limited(seconds_from_now: int) -> Failure:
    reset = str(int(time.time()) + seconds_from_now)
    return Failure(429, TOO_MANY, {"x-rate-limit-reset": reset, "x-rate-limit-remaining": "0"})


class FakeX:
    def __init__(self, token: str) -> None:
        self.token = token
        self.posts: dict[str, dict] = {}  # id -> post with every field
        self.searchable: set[str] = set()  # posts recent search finds (those with the tag)
        self.rules: list[dict] = []
        self.calls: list[Call] = []
        self.failures: dict[str, list[Failure]] = {}
        self.streams: list[list[object]] = []  # a script per stream connection, in order
        self.minimal = False  # answer with only id and text, and no includes
        self.search_gate: asyncio.Event | None = None  # searches wait for it when set
        # Search shows a post only once this says so (X's search shows posts late).
        self.search_shows: Callable[[str], bool] = lambda post_id: True
        self.stream_connections = 0
        self._rule_ids = 1000
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # --- test set-up -------------------------------------------------------------

    def post(
        self,
        post_id: int | str,
        text: str,
        author: str = "1001",
        *,
        retweeted: str | None = None,
        replied_to: str | None = None,
        quoted: str | None = None,
        conversation: str | None = None,
        metrics: dict[str, int] | None = None,
        searchable: bool = True,
        lang: str = "en",
    ) -> dict:
        post_id = str(post_id)
        references = [
            {"type": kind, "id": ref}
            for kind, ref in (
                ("retweeted", retweeted),
                ("replied_to", replied_to),
                ("quoted", quoted),
            )
            if ref
        ]
        tweet = {
            "id": post_id,
            "text": text,
            "author_id": author,
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "lang": lang,
            "conversation_id": conversation or post_id,
            "entities": {"hashtags": [{"start": 0, "end": 15, "tag": "AHPsIntoAction"}]},
            "public_metrics": {
                "retweet_count": 0,
                "reply_count": 0,
                "like_count": 0,
                "quote_count": 0,
                "bookmark_count": 0,
                "impression_count": 0,
                **(metrics or {}),
            },
            "edit_history_tweet_ids": [post_id],
        }
        if references:
            tweet["referenced_tweets"] = references
        self.posts[post_id] = tweet
        if searchable:
            self.searchable.add(post_id)
        return tweet

    def fail(self, endpoint: str, failure: Failure, times: int = 1) -> None:
        self.failures.setdefault(endpoint, []).extend([failure] * times)

    def queries(self, endpoint: str) -> list[dict[str, str]]:
        return [call.query for call in self.calls if call.endpoint == endpoint]

    # --- serving -----------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/2/tweets/search/recent", self._search)
        app.router.add_get("/2/tweets/search/stream", self._stream)
        app.router.add_get("/2/tweets/search/stream/rules", self._get_rules)
        app.router.add_post("/2/tweets/search/stream/rules", self._post_rules)
        app.router.add_get("/2/tweets", self._lookup)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def _refusal(self, request: web.Request, endpoint: str) -> web.Response | None:
        self.calls.append(Call(endpoint, dict(request.query)))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response(UNAUTHORIZED, status=401)
        queued = self.failures.get(endpoint)
        if queued:
            failure = queued.pop(0)
            if failure.html:
                return html_error(failure.status, "Bad Gateway")
            return web.json_response(failure.body, status=failure.status, headers=failure.headers)
        return None

    def _shape(self, tweet: dict, query: dict[str, str]) -> dict:
        text = html.escape(tweet["text"], quote=False)  # X escapes &, < and >
        if self.minimal:
            return {"id": tweet["id"], "text": text}
        wanted = set(query.get("tweet.fields", "").split(","))
        return {
            key: text if key == "text" else value
            for key, value in tweet.items()
            if key in ("id", "text", "edit_history_tweet_ids") or key in wanted
        }

    def _with_includes(self, tweets: list[dict], query: dict[str, str]) -> dict:
        body: dict = {"data": [self._shape(t, query) for t in tweets]}
        if self.minimal or "referenced_tweets.id" not in query.get("expansions", ""):
            return body
        refs = [
            self._shape(self.posts[ref["id"]], query)
            for tweet in tweets
            for ref in tweet.get("referenced_tweets", [])
            if ref["id"] in self.posts
        ]
        if refs:
            body["includes"] = {"tweets": refs}
        return body

    async def _search(self, request: web.Request) -> web.Response:
        if self.search_gate is not None:
            await self.search_gate.wait()
        refused = self._refusal(request, "search")
        if refused is not None:
            return refused
        query = request.query
        since = int(query.get("since_id", "0"))
        found = sorted(
            (self.posts[i] for i in self.searchable if int(i) > since and self.search_shows(i)),
            key=lambda tweet: int(tweet["id"]),
            reverse=True,
        )
        size = int(query.get("max_results", "10"))
        offset = int(query["next_token"].removeprefix("page-")) if "next_token" in query else 0
        page = found[offset : offset + size]
        if not page:
            return web.json_response({"meta": {"result_count": 0}})
        body = self._with_includes(page, dict(query))
        meta = {"newest_id": page[0]["id"], "oldest_id": page[-1]["id"], "result_count": len(page)}
        if offset + size < len(found):
            meta["next_token"] = f"page-{offset + size}"
        body["meta"] = meta
        return web.json_response(body)

    async def _lookup(self, request: web.Request) -> web.Response:
        refused = self._refusal(request, "lookup")
        if refused is not None:
            return refused
        ids = request.query.get("ids", "").split(",")
        found = [self.posts[i] for i in ids if i in self.posts]
        body: dict = {}
        if found:
            body["data"] = [self._shape(t, dict(request.query)) for t in found]
        missing = [i for i in ids if i not in self.posts]
        if missing:
            body["errors"] = [
                {
                    "value": i,
                    "detail": f"Could not find tweet with ids: [{i}].",
                    "title": "Not Found Error",
                    "resource_type": "tweet",
                    "parameter": "ids",
                    "resource_id": i,
                    "type": "https://api.twitter.com/2/problems/resource-not-found",
                }
                for i in missing
            ]
        return web.json_response(body)

    async def _get_rules(self, request: web.Request) -> web.Response:
        refused = self._refusal(request, "rules")
        if refused is not None:
            return refused
        meta = {"sent": "2026-12-01T09:00:00.000Z", "result_count": len(self.rules)}
        body: dict = {"meta": meta}
        if self.rules:
            body["data"] = list(self.rules)
        return web.json_response(body)

    async def _post_rules(self, request: web.Request) -> web.Response:
        refused = self._refusal(request, "rules")
        if refused is not None:
            return refused
        change = await request.json()
        if "delete" in change:
            ids = set(change["delete"]["ids"])
            before = len(self.rules)
            self.rules = [rule for rule in self.rules if rule["id"] not in ids]
            deleted = before - len(self.rules)
            return web.json_response(
                {
                    "meta": {
                        "sent": "2026-12-01T09:00:00.000Z",
                        "summary": {"deleted": deleted, "not_deleted": len(ids) - deleted},
                    }
                }
            )
        added = []
        for rule in change.get("add", []):
            self._rule_ids += 1
            added.append({"id": str(self._rule_ids), **rule})
        self.rules += added
        return web.json_response(
            {
                "data": added,
                "meta": {
                    "sent": "2026-12-01T09:00:00.000Z",
                    "summary": {
                        "created": len(added),
                        "not_created": 0,
                        "valid": len(added),
                        "invalid": 0,
                    },
                },
            },
            status=201,
        )

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        refused = self._refusal(request, "stream")
        if refused is not None:
            return refused
        self.stream_connections += 1
        script = self.streams.pop(0) if self.streams else [HOLD]
        query = dict(request.query)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionResetError):  # the listener hung up
            await self._play(script, request, response, query)
        return response

    async def _play(
        self,
        script: list[object],
        request: web.Request,
        response: web.StreamResponse,
        query: dict[str, str],
    ) -> None:
        for item in script:
            if callable(item):
                item()
            elif isinstance(item, dict):
                body = self._with_includes([item], query)
                line = {
                    "data": body["data"][0],
                    **({"includes": body["includes"]} if "includes" in body else {}),
                }
                if not self.minimal:
                    line["matching_rules"] = [
                        {"id": rule["id"], **({"tag": rule["tag"]} if "tag" in rule else {})}
                        for rule in self.rules
                        if rule["value"].lower() in item["text"].lower()
                    ]
                await response.write(json.dumps(line).encode() + b"\r\n")
            elif item == KEEPALIVE:
                await response.write(b"\r\n")
            elif item == DROP:
                request.transport.close()  # no end of the chunked body: a broken stream
                return
            elif item == CLOSE:
                break
            elif item == HOLD:
                while not self._closing.is_set():
                    await response.write(b"\r\n")
                    try:
                        await asyncio.wait_for(self._closing.wait(), 0.05)
                    except TimeoutError:
                        continue
                return
        await response.write_eof()
