"""python-telegram-bot's HTTP transport on aiohttp instead of httpx.

python-telegram-bot talks to the Bot API through a `BaseRequest`, httpx's by default;
it documents this class as the place for another HTTP library. A whole sendMessage
through python-telegram-bot, 16 in flight against a fake Bot API (`bench/telegram_send.py`),
cost 1.16 ms of the bot's CPU over httpx and 0.21 ms over aiohttp: under load every
Telegram reply paid that, in the one process that also answers the webhooks. Chorus
already serves and sends over aiohttp. Everything else (the Bot API's methods, JSON,
errors, retries after flood control) stays python-telegram-bot's: this class only moves
the bytes. A call without files goes as one JSON body, which the Bot API accepts as it
does a form: 14-15% less CPU a sendMessage than the form of JSON-encoded fields sent
before (two runs of six alternating rounds of 2,000 calls: medians 447 against 526 µs,
303 against 351 µs).

Timeouts map onto aiohttp's: `connect_timeout` to establishing a connection,
`pool_timeout` plus that to waiting for a free one from the pool, `read_timeout` to each
read of the answer; aiohttp has no separate write timeout, so a request's whole time is
bounded by the sum of all four. A timeout becomes python-telegram-bot's `TimedOut`, any
other client error its `NetworkError`, as with httpx.
"""

from __future__ import annotations

import json

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

JSON = {"Content-Type": "application/json"}


class AiohttpRequest(BaseRequest):
    """One pool of `connection_pool_size` connections for the bot's calls."""

    def __init__(
        self,
        connection_pool_size: int = 1,
        *,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._size = connection_pool_size
        self._read, self._write, self._connect = read_timeout, write_timeout, connect_timeout
        self._pool, self._media_write = pool_timeout, media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._size),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        fields = request_data.json_parameters if request_data else None
        read = self._read if isinstance(read_timeout, DefaultValue) else read_timeout
        write = self._media_write if files else self._write
        if not isinstance(write_timeout, DefaultValue):
            write = write_timeout
        connect = self._connect if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool if isinstance(pool_timeout, DefaultValue) else pool_timeout
        timeout = aiohttp.ClientTimeout(
            total=_sum(read, write, connect, pool),
            connect=_sum(connect, pool),
            sock_connect=connect,
            sock_read=read,
        )
        body: aiohttp.FormData | bytes | None = None
        headers = None
        if files:
            body = aiohttp.FormData()
            for name, value in (fields or {}).items():
                body.add_field(name, value)
            for name, (filename, content, mimetype) in files.items():
                body.add_field(name, content, filename=filename, content_type=mimetype)
        elif request_data is not None:
            # One JSON body (the Bot API takes it as it takes a form): cheaper to build than
            # a form of fields each encoded as JSON first.
            # (`parameters`, not `json_payload`, which holds nested values as JSON strings.)
            body, headers = json.dumps(request_data.parameters).encode(), JSON
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, timeout=timeout
            ) as answer:
                return answer.status, await answer.read()
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error


def _sum(*parts: float | None) -> float | None:
    """None (no limit) if any part has none."""
    return None if any(part is None for part in parts) else sum(p for p in parts if p)
