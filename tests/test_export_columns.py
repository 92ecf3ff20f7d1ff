"""Exports a team can filter: who spoke (role group, role, region, age band, as given
when they contributed) and the language on every contribution row, pseudonyms cut to 12
characters yet unique, and JSON as one document while JSONL is one row per line."""

from __future__ import annotations

import csv
import io
import json

from handlers.engine import Engine
from handlers.insights.exports import columns_of, write_text
from storage.exports import shortest_unique_length
from storage.insights import Scope
from tests.insights_data import IDEAS, people_of

WHO = ("role_group", "role", "region", "age_band", "language")


async def export(engine: Engine, fmt: str, table: str = "contributions") -> str:
    out = io.StringIO()
    await write_text(engine.store, out, fmt, table, Scope())
    return out.getvalue()


async def test_every_contribution_row_says_who_spoke_then_and_in_what_language(
    team_engine: Engine,
) -> None:
    assert set(WHO) <= set(columns_of("contributions")) and set(WHO) <= set(columns_of("ideas"))
    rows = {
        int(row["id"]): row for row in csv.DictReader(io.StringIO(await export(team_engine, "csv")))
    }
    patient_idea = rows[IDEAS["I2"]]
    assert [patient_idea[c] for c in WHO] == [
        "patient",
        "patient",
        "north-east-yorkshire",
        "65-74",
        "en",
    ]
    ahp_idea = rows[IDEAS["I1"]]
    assert ahp_idea["role_group"] == "ahp" and ahp_idea["role"] in ("physiotherapist", "dietitian")
    assert rows[IDEAS["I1"]]["idea_number"] == "1"
    # A later change of answers does not rewrite what was said before.
    people = people_of(team_engine)
    async with team_engine.store.transaction() as unit:
        p1 = await unit.participants.find(people["p1"].pseudonym)
        await unit.participants.update(p1.id, answers={**p1.answers, "role": "carer"})
    again = {int(r["id"]): r for r in csv.DictReader(io.StringIO(await export(team_engine, "csv")))}
    assert again[IDEAS["I2"]]["role"] == "patient"
    ideas = list(csv.DictReader(io.StringIO(await export(team_engine, "csv", "ideas"))))
    assert {r["role_group"] for r in ideas} >= {"ahp", "patient", "carer"}


async def test_pseudonyms_are_twelve_characters_and_unique_within_the_export(
    team_engine: Engine,
) -> None:
    rows = list(csv.DictReader(io.StringIO(await export(team_engine, "csv"))))
    pseudonyms = {row["participant"] for row in rows}
    assert all(len(p) == 12 for p in pseudonyms)
    async with team_engine.store.reader() as unit:
        full = {unit_row for unit_row in await _pseudonyms(unit)}
    assert len(pseudonyms) == len(full)  # no two people share a shortened pseudonym


async def _pseudonyms(unit) -> list[str]:
    from sqlalchemy import select

    from storage.models import Contribution, Participant

    return list(
        await unit.session.scalars(
            select(Participant.pseudonym)
            .join(Contribution, Contribution.participant_id == Participant.id)
            .distinct()
        )
    )


def test_a_shared_prefix_lengthens_the_pseudonyms_just_enough() -> None:
    apart = ["a" * 64, "b" * 64, "c" * 64]
    assert shortest_unique_length(apart) == 12
    clash = ["0123456789abcdef" + "0" * 48, "0123456789abcdef" + "1" * 48, "f" * 64]
    assert shortest_unique_length(clash) == 17
    assert len({p[:17] for p in clash}) == 3 and len({p[:16] for p in clash}) == 2
    assert shortest_unique_length([]) == 12


async def test_json_is_one_document_and_jsonl_one_row_per_line(team_engine: Engine) -> None:
    document = json.loads(await export(team_engine, "json"))
    assert isinstance(document, list) and len(document) == 5
    lines = (await export(team_engine, "jsonl")).splitlines()
    assert [json.loads(line) for line in lines] == document
    assert set(WHO) <= set(document[0])
    assert json.loads(await export(team_engine, "json", "themes")) == []
