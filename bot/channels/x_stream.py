"""Stream mode of the X listener, on tweepy's AsyncStreamingClient.

`StreamFollower` keeps Chorus's rule (tag "chorus") and connects again and again;
`HashtagStream` is one connection. tweepy's own loop would reconnect by itself, with
waits Chorus cannot choose and log lines of its own. Here its hooks end the connection
instead, keeping why in `failure`, so the follower decides how long to wait (backoff
with jitter, or until a rate limit resets), backfills what it missed, and each fault
is logged once.

The stream brings only posts made after it connected; what was made before comes from
recent search, which shows a post some seconds late. So each connection is followed by
two backfills: one at once, and one when search has caught up with the moment of
connecting (`search_settle` seconds later). Until then the checkpoint does not pass a
post made while Chorus was away that search might not have shown yet.

X sends one JSON object per line and a blank line as a keep-alive every 20 seconds::

    {"data": {"id": "1800000000000000042", "text": "...", ...},
     "includes": {...}, "matching_rules": [{"id": "1677", "tag": "chorus"}]}

    {"errors": [{"title": "operational-disconnect", "disconnect_type":
      "UpstreamOperationalDisconnect", "detail": "This stream has been disconnected..."}]}
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from tweepy.asynchronous import AsyncStreamingClient

from bot.channels.x_api import (
    AccessDenied,
    ApiSession,
    RateLimited,
    Rejected,
    Unauthorized,
    Unavailable,
    XError,
    error_for,
)
from bot.channels.x_posts import REQUEST_FIELDS
from bot.retry import Backoff
from handlers.public import carries_hashtag, id_order, newest_id
from handlers.types import PublicPost
from storage.errors import StoreConflict, StoreUnavailable

if TYPE_CHECKING:
    from bot.channels.x_host import ListenerHost

log = logging.getLogger(__name__)

RULE_TAG = "chorus"  # Chorus's own stream rules carry this tag


class StreamDropped(Unavailable):
    """The stream ended: X closed it, the connection broke, or it stalled."""


class HashtagStream(AsyncStreamingClient):
    """A single stream connection; `filter()` starts it as a task that ends when the
    connection does. `failure` then says why."""

    def __init__(
        self,
        token: str,
        session: ApiSession,
        *,
        on_payload: Callable[[dict], Awaitable[None]],
        on_connect: Callable[[], None],
    ) -> None:
        super().__init__(token, return_type=dict, max_retries=0)
        self.session = session
        self._on_payload = on_payload
        self._on_connect = on_connect
        self.failure: BaseException | None = None
        self.keep_alives = 0

    def __repr__(self) -> str:
        return "HashtagStream(<token hidden>)"

    async def on_connect(self) -> None:
        self._on_connect()

    async def on_data(self, raw_data: bytes) -> None:
        try:
            payload = json.loads(raw_data)
        except ValueError:
            log.warning("ignoring a line of the X stream that is not JSON")
            return
        # An exception here (e.g. the store is down) ends the connection, so nothing
        # after this post is taken before the listener has caught up.
        await self._on_payload(payload)

    async def on_keep_alive(self) -> None:
        self.keep_alives += 1

    async def on_closed(self, resp: object) -> None:
        raise StreamDropped("X closed the stream")

    async def on_connection_error(self) -> None:
        # Called inside tweepy's `except` for the connection error, which this chains.
        raise StreamDropped("the stream connection broke or stalled")

    async def on_request_error(self, status_code: int) -> None:
        response = self.session.last_response
        body: dict = {}
        reset = None
        if response is not None:
            reset = response.headers.get("x-rate-limit-reset")
            try:
                answer = await response.json(content_type=None)
                body = answer if isinstance(answer, dict) else {}
            except Exception:
                body = {}
        raise error_for(status_code, body, reset)

    async def on_exception(self, exception: Exception) -> None:
        self.failure = exception

    async def on_disconnect(self) -> None:
        """Nothing to log: the listener reports why the stream ended."""


def failure_text(failure: BaseException | None) -> str:
    """Why a stream ended, in one line, with the underlying connection error if any."""
    if failure is None:
        return "the stream ended"
    text = str(failure) or type(failure).__name__
    cause = failure.__cause__ or failure.__context__
    if isinstance(failure, StreamDropped) and cause is not None:
        text += f" ({type(cause).__name__}: {cause})".replace(": )", ")")
    elif not isinstance(failure, XError):
        text = f"{type(failure).__name__}: {text}"
    return text


class StreamNotAllowed(Exception):
    """X refused the filtered stream or its rules (403): the access level may lack it."""


class StreamFollower:
    """Stream mode: Chorus's rule, one connection after another, and a backfill after
    each connect. Stream posts stored while a backfill runs do not move the checkpoint
    until the backfill is stored too: it must never pass posts not fetched yet."""

    def __init__(self, listener: ListenerHost) -> None:
        self.listener = listener
        self._lock = asyncio.Lock()  # stream posts vs. the end of a backfill
        self._holding = False
        self._held_newest: str | None = None

    async def run(self) -> None:
        """Follow the stream until cancelled. Raises StreamNotAllowed on a 403, and the
        listener's ListenerStopped on a refused token or rule."""
        listener = self.listener
        timings = listener.timings
        backoff = Backoff(timings.reconnect_initial, timings.reconnect_max)
        while True:
            try:
                added, deleted = await listener.call(
                    "stream rules", listener.api.sync_rules, listener.query, RULE_TAG
                )
                break
            except AccessDenied as denied:
                raise StreamNotAllowed(str(denied)) from None
            except Unavailable as error:
                delay = backoff.next()
                listener.failed(error, "cannot set the stream rule", f"retrying in {delay:.3g} s")
                await listener.sleep(delay)
        if added or deleted:
            log.info(
                "X listener: stream rule %r set (stale rules removed: %d)",
                listener.query,
                len(deleted),
            )
        backoff.reset()
        while True:
            lasted, failure = await self._connect_once()
            if isinstance(failure, AccessDenied):
                raise StreamNotAllowed(str(failure))
            if isinstance(failure, Unauthorized | Rejected):
                raise failure
            if lasted is not None and lasted >= timings.stable_connection:
                backoff.reset()
            if isinstance(failure, RateLimited):
                delay = listener.until(failure.reset_at)
                listener.counts["rate_limited"] += 1
            else:
                delay = backoff.next()
            listener.counts["reconnects"] += 1
            if isinstance(failure, Unavailable):
                listener.failed(failure, "the stream failed", f"reconnecting in {delay:.3g} s")
            else:
                listener.fault(failure_text(failure), f"reconnecting in {delay:.3g} s")
            await listener.set_state("reconnecting")
            await listener.sleep(delay)

    async def _connect_once(self) -> tuple[float | None, BaseException | None]:
        """One connection: returns how long it lasted (None if it never got through), and
        why it ended."""
        listener = self.listener
        connected = asyncio.Event()
        self._holding, self._held_newest = True, None
        stream = HashtagStream(
            listener.api.token,
            listener.api.stream_session(),
            on_payload=self._on_payload,
            on_connect=connected.set,
        )
        task = stream.filter(**REQUEST_FIELDS)
        failure: BaseException | None = None
        connected_at: float | None = None
        try:
            waiter = asyncio.ensure_future(connected.wait())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if connected.is_set():
                connected_at = listener.wall_clock()
                listener.counts["connections"] += 1
                await listener.set_state("listening")
                failure = await self._catch_up(connected_at)
                if failure is None:
                    listener.recovered()
                    # asyncio.wait, not await: tweepy's task swallows a cancellation.
                    await asyncio.wait({task})
        finally:
            stream.disconnect()
            await asyncio.wait({task})
            self._holding = False
        lasted = None if connected_at is None else listener.wall_clock() - connected_at
        return lasted, failure or stream.failure

    async def _catch_up(self, connected_at: float) -> BaseException | None:
        """Backfill after connecting: at once, and again once search shows what was made
        up to `connected_at`; then let the checkpoint take in the stream posts stored
        meanwhile (the stream brings everything made since it connected)."""
        listener = self.listener
        settle = listener.timings.search_settle
        try:
            await listener.backfill(settle=False, settled_before=connected_at - settle)
            wait = connected_at + settle - listener.wall_clock()
            if wait > 0:
                await listener.sleep(wait)
            await listener.backfill(settle=False, settled_before=connected_at)
            async with self._lock:
                self._holding = False
                if self._held_newest:
                    await listener.ingest([], self._held_newest)
        except Unavailable as error:
            return Unavailable(f"catching up failed: {error}")
        except (StoreUnavailable, StoreConflict) as error:
            return error
        listener.counts["catch_ups"] += 1
        await listener.notify()
        return None

    async def _on_payload(self, payload: dict) -> None:
        posts = [post for post in self.listener.read(payload) if self._ours(post, payload)]
        if not posts:
            errors = payload.get("errors") if isinstance(payload, dict) else None
            if errors and not payload.get("data"):
                self.listener.fault(f"the stream says: {errors}")
            return
        async with self._lock:
            newest = newest_id([post.post_id for post in posts])
            if not self._holding:
                await self.listener.ingest(posts, newest)
                return
            await self.listener.ingest(posts, None)
            if newest and (
                self._held_newest is None or id_order(newest) > id_order(self._held_newest)
            ):
                self._held_newest = newest

    def _ours(self, post: PublicPost, payload: dict) -> bool:
        """A stream carries the posts of every rule of the app; take Chorus's."""
        rules = payload.get("matching_rules")
        if not rules or any(rule.get("tag") == RULE_TAG for rule in rules):
            return True
        texts = [post.text, *(ref.text for ref in post.referenced)]
        return any(carries_hashtag(text, self.listener.hashtags) for text in texts)
