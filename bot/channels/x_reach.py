"""Reach of stored X posts: likes, reposts, replies and quotes, fetched again (GET
/2/tweets, 100 ids a request) for posts younger than channels.twitter.metrics_max_age_hours,
least recently refreshed first, so the team can see how far ideas travelled."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.channels.x_api import PAGE_SIZE, AccessDenied, Rejected, Unavailable
from bot.channels.x_posts import CHANNEL, metrics_by_id
from storage.errors import StoreConflict, StoreUnavailable

if TYPE_CHECKING:
    from bot.channels.x_host import ListenerHost

log = logging.getLogger(__name__)


async def refresh_reach(listener: ListenerHost, *, max_batches: int = 10) -> int:
    """One round of refreshing; returns how many posts got new figures."""
    store = listener.services.store
    clock = listener.engine.clock
    started = clock()
    young = started - timedelta(hours=listener.config.metrics_max_age_hours)
    refreshed = 0
    for _ in range(max_batches):
        async with store.reader() as unit:
            due = await unit.public_posts.due_for_refresh(
                CHANNEL, posted_after=young, refreshed_before=started, limit=PAGE_SIZE
            )
        if not due:
            break
        answer = await listener.call("post lookup", listener.api.lookup, list(due))
        metrics = metrics_by_id(answer)
        now = clock()
        async with store.transaction() as unit:
            for post_id, contribution_id in due.items():
                if post_id in metrics:
                    await unit.public_posts.update_metrics(contribution_id, metrics[post_id], now)
            # Deleted or hidden posts: marked as looked at, so the others come first.
            gone = [cid for pid, cid in due.items() if pid not in metrics]
            await unit.public_posts.touch(gone, now)
        refreshed += len(metrics)
        if len(due) < PAGE_SIZE:
            break
    listener.counts["metrics_refreshed"] += refreshed
    await listener.notify()
    return refreshed


async def refresh_reach_forever(listener: ListenerHost) -> None:
    """Refresh every `metrics_every` seconds; ends (logged once) if X refuses lookups."""
    if listener.config.metrics_max_age_hours <= 0:
        return
    while True:
        await listener.sleep(listener.timings.metrics_every)
        try:
            await refresh_reach(listener)
        except AccessDenied as denied:
            listener.fault(f"X refused post lookups ({denied}); reach is no longer refreshed")
            return
        except (Unavailable, Rejected, StoreUnavailable, StoreConflict) as error:
            listener.failed(error, "refreshing reach failed")
