"""The sentiment label's calibrated confidence is kept with the contribution: a text sent
over real HTTP (SMS, signed as Twilio signs it) and applied by the engine's batch writer
ends with a stored confidence in (0, 1] when the `chorus` analyser scores it, and with
none when the text is unscored or a lexicon (vader) scored it; the export carries it as
its last column."""

from __future__ import annotations

import csv
import dataclasses
import io

import aiohttp
from sqlalchemy import select

from handlers.insights.exports import columns_of, write_text
from storage.insights import Scope
from storage.models import Contribution
from tests.twilio_fakes import Phone, running_chorus, twilio_settings

AMIRA = "+447700900101"
PRAISE = "The physiotherapists were wonderful and so kind to my father"
WELSH = "Mae angen mwy o ffisiotherapyddion yn y gymuned os gwelwch yn dda"


async def _share(http: aiohttp.ClientSession, port: int, *ideas: str) -> None:
    amira = Phone(http, port, AMIRA)
    for word in ("START", "yes", "skip", "skip", "skip"):
        await amira.text(word)
    for idea in ideas:
        assert await amira.text(idea)
        await amira.text("no")  # no news, thanks (asked once)


async def _stored(runtime) -> dict[str, tuple[str, float | None]]:
    async with runtime.services.store.reader() as unit:
        rows = await unit.session.execute(
            select(Contribution.text, Contribution.label, Contribution.sentiment_confidence)
        )
        return {text: (label, confidence) for text, label, confidence in rows}


async def test_a_scored_text_is_stored_with_its_confidence(
    database_url: str, http: aiohttp.ClientSession
) -> None:
    async with running_chorus(twilio_settings(database_url)) as runtime:
        await _share(http, runtime.port, PRAISE, WELSH)
        stored = await _stored(runtime)
        label, confidence = stored[PRAISE]
        assert label == "positive" and confidence is not None and 0 < confidence <= 1
        assert stored[WELSH] == ("unscored", None)

        out = io.StringIO()
        await write_text(runtime.services.store, out, "csv", "contributions", Scope())
    assert columns_of("contributions")[-1] == "sentiment_confidence"
    exported = {row["text"]: row for row in csv.DictReader(io.StringIO(out.getvalue()))}
    assert float(exported[PRAISE]["sentiment_confidence"]) == round(confidence, 4)
    assert exported[WELSH]["sentiment_confidence"] == ""


async def test_a_lexicon_stores_no_confidence(
    database_url: str, http: aiohttp.ClientSession
) -> None:
    settings = twilio_settings(database_url)
    vader = settings.file.sentiment.model_copy(update={"analyser": "vader"})
    settings = dataclasses.replace(
        settings, file=settings.file.model_copy(update={"sentiment": vader})
    )
    async with running_chorus(settings) as runtime:
        await _share(http, runtime.port, PRAISE)
        assert (await _stored(runtime))[PRAISE] == ("positive", None)
