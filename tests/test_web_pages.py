"""The web form's pages over real HTTP: GET / leads to the form, the start-up log names
it, the printable paper form matches the import's columns, and the form keeps what was
typed when a message is refused, with the limit stated beside the box."""

from __future__ import annotations

import html
import logging
import re

import aiohttp
import pytest

from bot.runtime import Runtime
from handlers.imports import FIELDS, PaperRow, check_row
from tests.conftest import make_settings
from tests.running_chorus import chorus_server
from tests.test_web_form import Browser


@pytest.fixture
async def runtime(database_url: str):
    started = chorus_server(make_settings(database_url))
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


def base(runtime: Runtime) -> str:
    return f"http://127.0.0.1:{runtime.port}"


async def test_the_root_redirects_to_the_form_and_the_log_names_it(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.runtime")
    runtime = chorus_server(make_settings(database_url))
    await runtime.start()
    try:
        assert f"Take part at http://127.0.0.1:{runtime.port}/take-part" in caplog.text
        async with (
            aiohttp.ClientSession() as http,
            http.get(base(runtime) + "/", allow_redirects=False) as response,
        ):
            assert response.status == 302 and response.headers["Location"] == "/take-part"
    finally:
        await runtime.stop()


async def test_without_the_web_form_the_root_is_not_found(database_url: str) -> None:
    settings = make_settings(database_url, channels={"web": {"enabled": False}})
    runtime = chorus_server(settings)
    await runtime.start()
    try:
        async with aiohttp.ClientSession() as http:
            for path in ("/", "/take-part/print"):
                async with http.get(base(runtime) + path, allow_redirects=False) as response:
                    assert response.status == 404, path
    finally:
        await runtime.stop()


async def test_the_printable_form_has_every_part_and_the_import_columns(
    runtime: Runtime,
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(base(runtime) + "/take-part/print") as response,
    ):
        assert response.status == 200 and response.content_type == "text/html"
        page = await response.text()
    config = runtime.settings.consultation
    text = html.unescape(page)
    assert config.questions[0].text in text  # the question open now
    assert " ".join(config.consultation.privacy_notice.split()) in " ".join(text.split())
    assert "I agree to take part." in text
    assert "up to 2,000 characters" in text
    for question in config.gateway:
        assert question.prompt in text
        for option in question.all_options():
            assert option.label in text, option.label
    assert text.count("Prefer not to say") == len(config.gateway)
    # Each printed part is labelled with its import column; together they are the columns.
    labels = re.findall(r'<span class="column">([a-z_-]+)</span>', page)
    assert set(FIELDS) <= set(labels)
    # A worker who copies a ticked label into the sheet has it accepted by the import.
    ticked = {"text": "An idea", "role": "Podiatrist or chiropodist", "age_band": "75 or over"}
    row = check_row(2, ticked, config, runtime.services.engine.clock())
    assert isinstance(row, PaperRow) and row.answers["role"] == "podiatrist"


async def test_the_form_keeps_the_text_on_an_error_and_counts_the_idea_not_the_command(
    runtime: Runtime,
) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        browser = Browser(http, base(runtime))
        await browser.open()
        assert "(up to 2,000 characters)" in browser.page
        await browser.submit(text="start")
        await browser.press("Yes")
        for _ in range(3):
            await browser.type("skip")
        too_long = "Physios " + "x" * 1995  # 2,003 characters
        await browser.type(f"idea {too_long}")
        assert "too long (2,003 characters)" in browser.page
        box = re.search(r"<textarea[^>]*>(.*?)</textarea>", browser.page, re.DOTALL).group(1)
        assert html.unescape(box) == f"idea {too_long}"  # nothing to type again
        assert "(up to 2,000 characters)" in browser.page
        exactly = "Physios " + "y" * 1992  # 2,000 characters, 2,005 with the command word
        await browser.type(f"idea {exactly}")
        assert "Your idea is saved as idea 1" in browser.page
        box = re.search(r"<textarea[^>]*>(.*?)</textarea>", browser.page, re.DOTALL).group(1)
        assert box == ""  # saved: the box is empty again
