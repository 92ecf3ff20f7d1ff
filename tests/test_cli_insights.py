"""The team's reports, exports and charts on the command line (run in-process against a
copy of the small consultation on each backend), with --json figures checked."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.cli import main
from storage.database import Store
from tests.conftest import TEST_SECRET, write_config
from tests.insights_data import IDEAS, INSIGHTS, TEAM


@pytest.fixture
def chorus(consultation_url: str, tmp_path: Path, monkeypatch, capsys):
    config = write_config(tmp_path / "config.yaml", team=TEAM, insights=INSIGHTS)
    monkeypatch.setenv("CHORUS_DATABASE_URL", consultation_url)
    monkeypatch.setenv("CHORUS_SECRET", TEST_SECRET)

    def run(*args: str) -> tuple[int, str, str]:
        code = main([*args, "--config", str(config)])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def as_json(result: tuple[int, str, str]) -> dict:
    code, out, err = result
    assert code == 0, err
    return json.loads(out)


def test_every_report_prints_its_figures_as_json(chorus) -> None:
    summary = as_json(chorus("summary", "--json"))
    assert (summary["participants"], summary["contributions"], summary["votes"]) == (10, 5, 27)
    assert summary["by_channel"] == {"console": 2, "telegram": 2, "sms": 1}
    assert summary["by_role"]["patient"] == 3 and summary["by_role_group"]["ahp"] == 5
    assert summary["by_region"]["london"] == 5 and summary["by_age_band"]["65-74"] == 3
    assert set(summary["activity"]) == {"last_24h", "previous_24h"}
    assert set(summary["top"][0]) >= {"id", "text", "agree", "disagree", "score", "label"}

    top = as_json(chorus("top", "2", "--json"))
    assert [idea["id"] for idea in top["ideas"]] == [IDEAS["I4"], IDEAS["I1"]]
    controversial = as_json(chorus("controversial", "--json"))
    assert controversial["ideas"][0]["id"] == IDEAS["I3"]
    consensus = as_json(chorus("consensus", "--json"))
    assert [i["id"] for i in consensus["ideas"]] == [1, 4, 2, 3]
    assert consensus["too_few_everywhere"] == ["other-staff", "carer", "public", "student"]
    reach = as_json(chorus("reach", "--json"))
    assert reach["participants"] == 10 and reach["gaps"][0]["group"] == "other-staff"
    pending = as_json(chorus("pending", "--json"))
    assert pending["pending"] == 1 and pending["items"][0]["reason"] == "named_person"

    code, text, _err = chorus("consensus")
    assert code == 0 and "1. idea 1 lowest 100%: AHP 100% of 4, Patient 100% of 3" in text
    code, text, _err = chorus("pending")
    assert code == 0 and text.splitlines() == [
        "1 waiting for moderation (all questions, all time).",
        "idea 5, held for named person, via console: Dr Smith on ward 5 was rude to my mother",
    ]
    code, text, _err = chorus("controversial")
    assert code == 0 and "1. idea 3 50% agree +3/-3" in text and "idea 1 " not in text


def test_scope_flags_and_bad_scopes(chorus) -> None:
    other = as_json(chorus("summary", "--json", "--question", "ahp-future"))
    assert (other["contributions"], other["votes"]) == (0, 0)
    later = as_json(chorus("top", "--json", "--since", "2026-12-02"))
    assert later["ideas"] == [] and later["scope"]["since"] == "2026-12-02"
    code, _out, err = chorus("top", "--window", "banana")
    assert code == 2 and err.strip() == (
        "chorus: 'banana' is not a window; use e.g. 7d (days) or 2w (weeks)"
    )
    code, _out, err = chorus("reach", "--question", "nope")
    assert code == 2 and "there is no question 'nope'" in err


def test_themes_and_similar_are_worked_out_when_there_are_none(chorus) -> None:
    code, out, err = chorus("themes", "--json", "--question", "ahp-action")
    assert code == 0 and "working out themes now" in err
    themes = json.loads(out)["questions"][0]
    assert themes["question"] == "ahp-action" and themes["ideas"] == 4
    assert sum(theme["size"] for theme in themes["themes"]) == 4
    code, out, err = chorus("themes", "--json", "--question", "ahp-action")
    assert "working out" not in err  # the stored result answers now
    similar = as_json(chorus("similar", "--json"))
    assert similar["as_of"] is not None and similar["threshold"] == 0.56


def test_exports_and_charts_are_written_to_files(chorus, tmp_path: Path) -> None:
    workbook_path = tmp_path / "export.xlsx"
    code, _out, err = chorus("export", "--format", "xlsx", "--out", str(workbook_path))
    assert code == 0 and "wrote 10 rows" in err
    workbook = load_workbook(workbook_path, read_only=True)
    assert workbook.sheetnames == ["About", "Contributions", "Ideas", "Themes"]
    workbook.close()
    code, _out, err = chorus("export", "--format", "xlsx")
    assert code == 2 and "--format xlsx needs --out" in err
    ideas = tmp_path / "ideas.json"
    assert chorus("export", "--format", "json", "--table", "ideas", "--out", str(ideas))[0] == 0
    first = json.loads(ideas.read_text(encoding="utf-8"))[0]  # one document: rows in a list
    assert first["agree_votes (coded 1)"] == 7 and first["channel"] == "telegram"
    picture = tmp_path / "reach.png"
    code, _out, err = chorus("chart", "reach", "--out", str(picture))
    assert code == 0 and picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    async def exports(url: str) -> list[dict]:
        store = Store.connect(url)
        try:
            async with store.reader() as unit:
                return [e for e in await unit.audit.recent() if e["action"] == "export"]
        finally:
            await store.close()

    entries = asyncio.run(exports(os.environ["CHORUS_DATABASE_URL"]))
    assert [e["target"] for e in entries] == ["json", "xlsx"]
    assert all(e["actor"].startswith("cli") for e in entries)


def test_every_insights_command_has_help(chorus) -> None:
    for command in ("summary", "top", "controversial", "consensus", "themes", "similar",
                    "reach", "pending", "export", "chart"):  # fmt: skip
        with pytest.raises(SystemExit) as exit_:
            chorus(command, "--help")
        assert exit_.value.code == 0
