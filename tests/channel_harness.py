"""One harness for every webhook channel (after courier's RunChannelTestCases).

A channel's test file is a table of `ChannelCase`s: a recorded provider payload, how it
is signed (valid, forged or not at all), the status the webhook must answer, the text the
person must get back, and the sender and external message id the store must then hold.
A `ChannelDriver` knows the channel's signing and where its replies land; `run_case`
posts one case to a running Chorus and checks it. bench/channels.py runs the same tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from aiohttp import web
from sqlalchemy import func, select

from bot.channels import build_channels, media
from bot.channels.base import Channel
from bot.config import Settings
from bot.server import build_web_app
from bot.services import Services, open_services
from storage.database import Store
from storage.models import Participant, ProcessedMessage


@dataclass(frozen=True)
class ChannelCase:
    label: str
    body: bytes
    status: int
    signer: str = "valid"  # valid | forged | none
    text: str | None = None  # a reply the sender must get, containing this
    sender: str | None = None  # the platform id whose participant must exist afterwards
    makes_person: bool = True  # False: the sender must still have no participant row
    external_id: str | None = None  # the message id recorded as applied
    headers: tuple[tuple[str, str], ...] = ()
    query: str = ""


class ChannelDriver(Protocol):
    channel: str
    path: str

    def sign(self, url: str, body: bytes, signer: str) -> dict[str, str]:
        """Headers for a request signed as the case says."""
        ...

    async def replies(self, chorus: ChorusUnderTest, answer: str, sender: str) -> list[str]:
        """Every text `sender` has received so far (the answer body is given for
        channels that reply inside it)."""
        ...


class ChorusUnderTest:
    """Chorus's server with the channels the settings turn on, built through the real
    registry, on a random port."""

    def __init__(self, settings: Settings, *, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store
        self.port = 0
        self.channels: list[Channel] = []
        self._services: Services | None = None
        self._runner: web.AppRunner | None = None
        self.http: aiohttp.ClientSession | None = None

    @property
    def services(self) -> Services:
        assert self._services is not None
        return self._services

    def channel(self, name: str) -> Channel:
        return next(channel for channel in self.channels if channel.name == name)

    async def __aenter__(self) -> ChorusUnderTest:
        self._services = await open_services(self.settings, store=self.store, channel_media=media())
        self.http = aiohttp.ClientSession()
        try:
            self.channels = build_channels(self._services, self.http)
            self._runner = web.AppRunner(
                build_web_app(self._services, self.channels), access_log=None
            )
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = self._runner.addresses[0][1]
            for channel in self.channels:
                await channel.start()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for channel in self.channels:
            await channel.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.http is not None:
            await self.http.close()
        if self._services is not None:
            await self._services.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def post(
        self, driver: ChannelDriver, body: bytes, signer: str = "valid", **extra: str
    ) -> tuple[int, str]:
        assert self.http is not None
        url = self.url(driver.path)
        headers = {**driver.sign(url, body, signer), **extra}
        async with self.http.post(url, data=body, headers=headers) as response:
            return response.status, await response.text()


async def count(store: Store, model: type, *where: object) -> int:
    async with store.reader() as unit:
        query = select(func.count()).select_from(model)
        for condition in where:
            query = query.where(condition)  # type: ignore[arg-type]
        return int(await unit.session.scalar(query) or 0)


async def run_case(chorus: ChorusUnderTest, driver: ChannelDriver, case: ChannelCase) -> None:
    status, answer = await chorus.post(driver, case.body, case.signer, **dict(case.headers))
    assert status == case.status, f"{case.label}: {status} {answer}"
    store = chorus.services.store
    if case.external_id is not None:
        recorded = await count(
            store,
            ProcessedMessage,
            ProcessedMessage.channel == driver.channel,
            ProcessedMessage.message_id == case.external_id,
        )
        assert recorded == (1 if status == 200 else 0), case.label
    if case.sender is not None:
        pseudonym = chorus.services.engine.pseudonym(driver.channel, case.sender)
        people = await count(store, Participant, Participant.pseudonym == pseudonym)
        assert people == (1 if status == 200 and case.makes_person else 0), case.label
    if case.text is not None:
        assert case.sender is not None
        texts = await driver.replies(chorus, answer, case.sender)
        assert any(case.text in text for text in texts), (case.label, texts)


CaseTable = Sequence[ChannelCase]
CaseCheck = Callable[[ChorusUnderTest, ChannelDriver, ChannelCase], None]
