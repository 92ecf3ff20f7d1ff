"""Backfill for the X listener: recent search from the checkpoint (since_id), following
next_token. All pages are fetched first, then stored oldest first in batches of 100 that
each move the checkpoint, so a crash part-way loses nothing and nothing is counted
twice. A checkpoint older than X's 7-day window is dropped (the last 7 days are read).

Recent search shows a post some seconds after it is made, not always in id order; so
the checkpoint must not pass a post search may not show yet. Polling reads only up to
`search_settle` seconds ago (end_time); the stream's catch-up reads to now but moves the
checkpoint only over posts made before `settled_before` (a post's id says when it was
made), and stores the newer ones all the same.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.channels.x_api import AccessDenied, ListenerStopped, Rejected
from handlers.public import id_order, newest_id
from handlers.types import PublicPost

if TYPE_CHECKING:
    from bot.channels.x_host import ListenerHost

BATCH = 100
TWITTER_EPOCH_MS = 1288834974657  # post ids carry their time: (id >> 22) + this epoch


def post_time(post_id: str) -> datetime | None:
    """When a post was made, read from its id (X's ids are "snowflakes")."""
    if not post_id.isdigit():
        return None
    return datetime.fromtimestamp(((int(post_id) >> 22) + TWITTER_EPOCH_MS) / 1000, UTC)


async def backfill(
    listener: ListenerHost, *, settle: bool, settled_before: float | None = None
) -> None:
    """Everything newer than the checkpoint, fetched whole, then stored oldest first
    in batches that each move the checkpoint (with `settled_before`, epoch seconds, only
    over posts made before then)."""
    since = await listener.checkpoint()
    end_time = None
    if settle:
        settled = listener.wall_clock() - listener.timings.search_settle
        end_time = datetime.fromtimestamp(settled, UTC)
        since_time = post_time(since) if since else None
        if since_time is not None and since_time >= end_time:
            # X refuses an end_time before since_id: read to now, but pass only what
            # has settled.
            end_time = None
            settled_before = settled if settled_before is None else min(settled_before, settled)
    pages = await _search(listener, since, end_time)
    posts = sorted(
        (post for page in pages for post in listener.read(page)),
        key=lambda post: id_order(post.post_id),
    )
    for start in range(0, len(posts), BATCH):
        batch = posts[start : start + BATCH]
        await listener.ingest(batch, newest_id(_settled(batch, settled_before)))
    listener.counts["searches"] += 1
    await listener.notify()


def _settled(posts: list[PublicPost], before: float | None) -> list[str]:
    """The ids the checkpoint may pass: all, or those of posts made before `before`."""
    if before is None:
        return [post.post_id for post in posts]
    return [
        post.post_id
        for post in posts
        if (made := post_time(post.post_id)) is not None and made.timestamp() < before
    ]


async def _search(
    listener: ListenerHost, since: str | None, end_time: datetime | None
) -> list[dict]:
    pages: list[dict] = []
    token: str | None = None
    while True:
        try:
            page = await listener.call(
                "recent search",
                listener.api.search_page,
                listener.query,
                since_id=since,
                next_token=token,
                end_time=end_time,
            )
        except AccessDenied as denied:
            raise ListenerStopped(
                f"X refused recent search ({denied}); the access level may not include it"
            ) from None
        except Rejected as refused:
            if since is not None and "since_id" in str(refused):
                # The checkpoint is older than the 7 days recent search covers.
                listener.fault(
                    f"the checkpoint is out of X's search window ({refused}); "
                    "fetching the last 7 days"
                )
                since, token, pages = None, None, []
                continue
            if end_time is not None and "end_time" in str(refused):
                listener.fault(f"X refused the search's end_time ({refused}); searching to now")
                end_time, token, pages = None, None, []
                continue
            raise ListenerStopped(
                f"X refused the search for {listener.query} ({refused})"
            ) from None
        pages.append(page)
        token = (page.get("meta") or {}).get("next_token")
        if not token:
            return pages
