"""The alike index warms after start-up without holding up the first idea: while a
question's index is built in the background, a new idea is stored without the offer and
/healthz lists the index under "warming"; once it is warm, alike ideas are offered."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from bench.alike_warm import seed_ideas
from bench.similar_capture import idea_texts
from bot.channels import media
from bot.server import build_web_app
from bot.services import open_services
from handlers.likeness import LikenessIndex
from handlers.likeness_cache import BUILD_AT_ONCE
from handlers.likeness_warming import start_alike_warming
from tests.conftest import make_settings
from tests.people import Person

PARKING = "Free parking at hospitals for carers and patients"


class HeldBuild:
    """Builds here, once `release` is set (the server's builds run in a child process,
    handlers/likeness_process.py, which the second test uses)."""

    def __init__(self, release: asyncio.Event) -> None:
        self.release = release
        self.index: LikenessIndex | None = None

    async def build(self, ideas: list[tuple[int, str]], threshold: float) -> None:
        await self.release.wait()
        self.index = LikenessIndex(ideas, threshold)

    async def add(self, ideas: list[tuple[int, str]]) -> None:
        assert self.index is not None
        for idea_id, text in ideas:
            self.index.add(idea_id, text)

    async def take(self) -> LikenessIndex:
        assert self.index is not None
        return self.index

    def close(self) -> None:
        pass


async def _healthz_warming(app: web.Application) -> list[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/healthz") as response,
        ):
            return (await response.json())["warming"]
    finally:
        await runner.cleanup()


async def test_the_first_idea_is_not_held_up_by_the_index_build(database_url: str) -> None:
    services = await open_services(
        make_settings(database_url), warm_up=False, channel_media=media()
    )
    try:
        engine = services.engine
        question = engine.deps.question_ids["ahp-action"]
        # More ideas than a look-up builds at once, in bulk; one of them about parking.
        await seed_ideas(services.store, question, [PARKING, *idea_texts(BUILD_AT_ONCE, seed=3)])
        first, later = Person(engine, "first"), Person(engine, "later")
        await first.join()
        await later.join()

        # The build waits until the test lets it go: the writer must not wait with it.
        release = asyncio.Event()
        warming = start_alike_warming(
            services.store,
            engine.likeness,
            {"ahp-action": question},
            services.warming,
            builder=lambda: HeldBuild(release),
        )
        try:
            assert services.warming.warming == ["alike index: ahp-action"]
            assert await _healthz_warming(build_web_app(services, [])) == [
                "alike index: ahp-action"
            ]
            await first.say("IDEA free parking for carers and patients at hospitals")
            assert first.keys[0] == "idea_saved"  # stored at once, without the offer
            assert engine.likeness.is_warming(question)
        finally:
            release.set()
        await warming
        assert services.warming.warming == []
        assert not engine.likeness.is_warming(question)

        await later.say("IDEA free parking at hospitals for patients and carers")
        assert later.keys == ["alike_ask"]
        assert PARKING in later.text
    finally:
        await services.close()


async def test_services_warm_the_open_questions_alike_indexes(database_url: str) -> None:
    services = await open_services(
        make_settings(database_url), warm_up=False, channel_media=media()
    )
    try:
        question = services.engine.deps.question_ids["ahp-action"]
        await seed_ideas(services.store, question, [PARKING, *idea_texts(BUILD_AT_ONCE, seed=4)])
    finally:
        await services.close()
    # As `chorus run` starts them (the models aside): the open question's index warms,
    # in a child process.
    services = await open_services(
        make_settings(database_url), warm_up=False, channel_media=media()
    )
    try:
        services.warm_alike = True
        services.start_warming()
        assert "alike index: ahp-action" in services.warming.warming
        assert services.alike_warming is not None
        await services.alike_warming
        assert not [part for part in services.warming.warming if part.startswith("alike")]
        cache = services.engine.likeness
        index = cache.refresh(_NoReads(), question)
        assert index is not None and len(index) == BUILD_AT_ONCE + 1
    finally:
        await services.close()


class _NoReads:
    """The store as the writer would read it after the warm build: nothing newer."""

    def ideas_of_question(
        self, question_id: int, after_id: int, limit: int = 0
    ) -> list[tuple[int, str]]:
        return []

    def contribution(self, contribution_id: int) -> None:
        return None
