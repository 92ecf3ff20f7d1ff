"""What the X listener offers the stream, the backfill and the reach refresh
(x_stream.py, x_search.py, x_reach.py): their view of `XListener`, so that they need not
import the listener that imports them, and the listener's timings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bot.channels.x_api import XApi
from bot.channels.x_settings import TwitterSettings
from bot.services import Services
from handlers.engine import Engine
from handlers.public import IngestResult
from handlers.types import PublicPost


@dataclass(frozen=True)
class Timings:
    """How long the listener waits, in seconds. Tests use milliseconds."""

    reconnect_initial: float = 1.0  # first wait after a stream drop; doubles each time
    reconnect_max: float = 320.0
    # A connection that lasted this long starts the backoff afresh; one X drops at once
    # again and again is reconnected more and more slowly.
    stable_connection: float = 60.0
    retry_initial: float = 5.0  # after a failed poll (X or the store unavailable)
    retry_max: float = 300.0
    rate_limit_default: float = 60.0  # a 429 without x-rate-limit-reset
    rate_limit_margin: float = 1.0
    lease_retry: float = 30.0  # a standby process tries to take over this often
    lease_check: float = 15.0  # the holder checks it still holds the lease this often
    stall: float = 30.0  # no byte on the stream for this long (keep-alives come every 20 s)
    request_timeout: float = 30.0
    metrics_every: float = 900.0
    # Poll up to this long ago: newer posts may not be searchable yet, and X wants
    # end_time at least 10 s in the past.
    search_settle: float = 30.0


class ListenerHost(Protocol):
    services: Services
    engine: Engine
    config: TwitterSettings
    hashtags: tuple[str, ...]
    query: str
    timings: Timings
    sleep: Callable[[float], Awaitable[None]]
    wall_clock: Callable[[], float]
    api: XApi
    counts: Counter[str]

    async def notify(self) -> None: ...

    async def set_state(self, state: str) -> None: ...

    def fault(
        self, message: str, then: str = "", *, error: BaseException | None = None
    ) -> None: ...

    def failed(self, error: BaseException, what: str, then: str = "") -> None: ...

    def recovered(self) -> None: ...

    async def checkpoint(self) -> str | None: ...

    async def backfill(self, *, settle: bool, settled_before: float | None = None) -> None: ...

    def read(self, payload: dict) -> list[PublicPost]: ...

    async def ingest(self, posts: list[PublicPost], newest: str | None) -> IngestResult: ...

    async def call(
        self, what: str, call: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
    ) -> Any: ...

    def until(self, reset_at: float | None) -> float: ...
