"""The plain web form over real HTTP: a whole journey in a browser's shoes, a resubmitted
form applied once, HTML escaped, the session cookie, an oversized form answered 413 and a
busy store 503 (the words kept), both by the channel kit's one webhook path."""

from __future__ import annotations

import io
import re

import aiohttp
from sqlalchemy import func, select

from bot.channels.kit import WebhookChannel
from bot.runtime import Runtime
from storage.models import Contribution, Participant, Vote
from tests.conftest import make_settings
from tests.fakes.outage import StoreOutage
from tests.running_chorus import chorus_server


class Browser:
    """Fills in and submits the page's forms as a browser would, cookies included."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base
        self.page = ""
        self.status = 0

    async def open(self) -> None:
        async with self.http.get(f"{self.base}/take-part") as response:
            self.status, self.page = response.status, await response.text()

    @property
    def form_id(self) -> str:
        return re.search(r'name="form_id" value="([^"]+)"', self.page).group(1)

    @property
    def buttons(self) -> list[str]:
        return re.findall(r'<button name="payload" value="[^"]*">([^<]*)</button>', self.page)

    async def submit(self, form_id: str | None = None, **fields: str) -> None:
        data = {"form_id": form_id or self.form_id, **fields}
        async with self.http.post(f"{self.base}/take-part", data=data) as response:
            self.status, self.page = response.status, await response.text()

    async def press(self, label: str) -> None:
        payload = re.search(
            rf'<button name="payload" value="([^"]*)">{re.escape(label)}</button>', self.page
        ).group(1)
        await self.submit(payload=payload)

    async def type(self, text: str) -> None:
        await self.submit(text=text)


async def count_ideas(runtime: Runtime) -> int:
    async with runtime.services.store.reader() as unit:
        return await unit.session.scalar(select(func.count()).select_from(Contribution))


async def test_a_whole_journey_in_the_browser(database_url: str) -> None:
    runtime = chorus_server(make_settings(database_url))
    await runtime.start()
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            browser = Browser(http, f"http://127.0.0.1:{runtime.port}")
            await browser.open()
            assert browser.status == 200 and "AHPs into Action" in browser.page
            await browser.submit(text="start")
            assert browser.buttons == ["Yes", "No"]
            assert any(c.key == "chorus_session" for c in http.cookie_jar)
            await browser.press("Yes")
            assert "Allied health professional" in browser.buttons
            for _ in range(3):
                await browser.type("skip")
            assert "Share an idea" in browser.buttons
            idea = "More <b>physios</b> & OTs in A&E"
            form = browser.form_id
            await browser.type(f"idea {idea}")
            assert "Your idea is saved as idea 1" in browser.page
            await browser.submit(form_id=form, text=f"idea {idea}")  # resubmitted form
            assert "Your idea is saved as idea 1" in browser.page  # the same answer again
            assert await count_ideas(runtime) == 1
            await browser.type("mydata")
            assert "ideas: 1" in browser.page
        async with aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as stranger_http:
            stranger = Browser(stranger_http, f"http://127.0.0.1:{runtime.port}")
            await stranger.open()
            await stranger.submit(text="start")
            await stranger.press("Yes")
            for _ in range(3):
                await stranger.type("skip")
            await stranger.type("vote")
            assert "&lt;b&gt;physios&lt;/b&gt; &amp; OTs" in stranger.page
            assert "<b>physios</b>" not in stranger.page
    finally:
        await runtime.stop()


async def joined_browser(http: aiohttp.ClientSession, runtime: Runtime) -> Browser:
    browser = Browser(http, f"http://127.0.0.1:{runtime.port}")
    await browser.open()
    await browser.submit(text="start")
    await browser.press("Yes")
    for _ in range(3):
        await browser.press("Prefer not to say")
    assert "Share an idea" in browser.buttons
    return browser


async def test_no_row_before_consent_nor_after_forget_on_the_web_form(database_url: str) -> None:
    runtime = chorus_server(make_settings(database_url))
    await runtime.start()

    async def people() -> int:
        async with runtime.services.store.reader() as unit:
            return await unit.session.scalar(select(func.count()).select_from(Participant))

    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            browser = Browser(http, f"http://127.0.0.1:{runtime.port}")
            await browser.open()
            for text in ("hello", "help", "mydata"):
                await browser.type(text)
                assert browser.status == 200
            assert "We hold nothing about you yet" in browser.page
            assert await people() == 0
            await browser.submit(text="start")
            await browser.press("Yes")
            assert await people() == 1
            await browser.type("forget")
            await browser.press("Yes")
            assert "We have deleted your data" in browser.page and await people() == 0
            await browser.type("mydata")
            assert "We hold nothing about you yet" in browser.page
            await browser.type("help")
            assert browser.status == 200 and "MYDATA" in browser.page
            assert await people() == 0
    finally:
        await runtime.stop()


async def test_the_alike_offer_and_wrong_choices_on_the_web_form(database_url: str) -> None:
    runtime = chorus_server(make_settings(database_url))
    await runtime.start()
    jar = aiohttp.CookieJar
    try:
        async with aiohttp.ClientSession(cookie_jar=jar(unsafe=True)) as http:
            amira = Browser(http, f"http://127.0.0.1:{runtime.port}")
            await amira.open()
            await amira.submit(text="start")
            await amira.press("Yes")
            assert amira.buttons[-1] == "Prefer not to say"
            await amira.type("42")  # not a choice: answered in the form's own terms
            assert "Please choose one of the buttons." in amira.page
            assert "number from" not in amira.page
            for _ in range(3):
                await amira.press("Prefer not to say")
            await amira.type("idea More physiotherapists in GP surgeries")
            # No offer of news: the form only answers (it cannot send news later).
            assert "news" not in amira.page and "Share an idea" in amira.buttons
        async with aiohttp.ClientSession(cookie_jar=jar(unsafe=True)) as http:
            ben = await joined_browser(http, runtime)
            await ben.type("idea Less physiotherapists in GP surgeries")  # the opposite
            assert "Is your idea like one of these?" not in ben.page
            assert "Your idea is saved as idea 2" in ben.page
            await ben.type("idea More physios in GP surgeries")
            assert "Is your idea like one of these?" in ben.page
            assert ben.buttons == ["Idea 1: More physiotherapists in GP surgeries",
                                   "Mine is different"]  # fmt: skip
            await ben.press("Idea 1: More physiotherapists in GP surgeries")
            assert "We added your vote to idea 1" in ben.page
            assert "Share an idea" in ben.buttons
            assert await count_ideas(runtime) == 2
            await ben.type("idea More physios in all GP surgeries")
            await ben.press("Mine is different")
            assert "Your idea is saved as idea 3" in ben.page
            assert await count_ideas(runtime) == 3
        async with runtime.services.store.reader() as unit:
            votes = await unit.session.scalar(select(func.count()).select_from(Vote))
        assert votes == 1
    finally:
        await runtime.stop()


async def test_bad_forms_are_400_and_a_busy_store_is_503(postgres_url: str) -> None:
    async with StoreOutage(postgres_url) as outage:
        runtime = chorus_server(make_settings(outage.url))
        await runtime.start()
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                browser = Browser(http, f"http://127.0.0.1:{runtime.port}")
                await browser.open()
                await browser.submit(form_id="short", text="start")
                assert browser.status == 400
                async with http.post(
                    f"http://127.0.0.1:{runtime.port}/take-part", json={"text": "start"}
                ) as response:
                    assert response.status == 400
                await browser.open()
                form = browser.form_id
                oversized = io.BytesIO(f"form_id={form}&text={'x' * 2 * 1024 * 1024}".encode())
                async with http.post(
                    browser.base + "/take-part",
                    data=oversized,
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                ) as response:
                    assert response.status == 413 and len(await response.text()) < 200
                await outage.down()
                await browser.submit(form_id=form, text="start")
                assert browser.status == 503 and "busy" in browser.page
                assert ">start</textarea>" in browser.page  # the words are given back
                await outage.up()
                await browser.submit(form_id=form, text="start")  # the same form, again
                assert browser.status == 200 and browser.buttons == ["Yes", "No"]
            # Every refusal was the channel kit's one webhook path (bot/channels/kit.py).
            [web] = [channel for channel in runtime.channels if channel.name == "web"]
            assert isinstance(web, WebhookChannel)
            assert web.counts.refused == {400: 2, 413: 1, 503: 1}
        finally:
            await runtime.stop()
