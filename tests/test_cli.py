"""The `chorus` command as a user runs it: a scripted chat, reports, exports, analysis,
migrations, and one clear line (not a traceback) for a bad config or store."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

import bot.cli.analyse
from storage.database import Store
from storage.models import Contribution, Participant, Vote
from tests.conftest import TEST_SECRET, write_config
from tests.running_chorus import chorus_in_process

CHORUS = [sys.executable, "-m", "bot"]


def chorus(args: list[str], cwd: Path, database_url: str, stdin: str = "", **env: str):
    environment = {
        **os.environ,
        "CHORUS_DATABASE_URL": database_url,
        "CHORUS_SECRET": TEST_SECRET,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        **env,
    }
    return subprocess.run(
        CHORUS + args,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    write_config(tmp_path / "config.yaml")
    return tmp_path


async def _counts(url: str) -> dict[str, int]:
    store = Store.connect(url)
    try:
        async with store.reader() as unit:
            return {
                "participants": await unit.session.scalar(
                    select(func.count())
                    .select_from(Participant)
                    .where(Participant.consent_at.is_not(None))
                ),
                "ideas": await unit.session.scalar(
                    select(func.count())
                    .select_from(Contribution)
                    .where(Contribution.kind == "idea")
                ),
                "votes": await unit.session.scalar(select(func.count()).select_from(Vote)),
            }
    finally:
        await store.close()


async def in_process(args: list[str], cwd: Path, database_url: str, stdin: str = ""):
    """`chorus ARGS` through its entry point in this process (tests/conftest.py), from a
    thread: the journeys below hold eight commands, and a `python -m bot` start with its
    models costs seconds each. The command as a process is tested once per command: `chat`
    and `run` in tests/test_foundation_cli.py, `summary` in tests/test_x_channel.py,
    `export` and `analyse` here."""
    return await asyncio.to_thread(chorus_in_process, args, cwd, database_url, stdin)


async def test_scripted_chat_journey_with_store_checks(workdir: Path, database_url: str) -> None:
    amira = await in_process(
        ["chat", "--as", "amira"],
        workdir,
        database_url,
        "/start\nyes\nskip\nskip\nskip\n"
        "/idea Physios in every GP surgery would cut waiting times\nno\n",
    )
    assert amira.returncode == 0, amira.stderr
    assert "Thanks! Your idea is saved as idea 1." in amira.stdout
    assert "  1. Yes" in amira.stdout  # choices print numbered
    assert await _counts(database_url) == {"participants": 1, "ideas": 1, "votes": 0}

    bob = await in_process(
        ["chat", "--as", "bob"], workdir, database_url, "start\nyes\n3\n2\nskip\nvote\n1\n"
    )
    assert bob.returncode == 0, bob.stderr
    assert "Idea 1: Physios in every GP surgery" in bob.stdout
    assert await _counts(database_url) == {"participants": 2, "ideas": 1, "votes": 1}

    mydata = await in_process(["chat", "--as", "bob"], workdir, database_url, "mydata\n")
    assert "Patient, London" in mydata.stdout and "votes: 1" in mydata.stdout

    summary = await in_process(["summary", "--json"], workdir, database_url)
    assert summary.returncode == 0, summary.stderr
    data = json.loads(summary.stdout)
    assert (data["participants"], data["contributions"], data["votes"]) == (2, 1, 1)
    assert data["by_channel"] == {"console": 1}
    assert data["by_role"] == {"patient": 1, "not given": 1}
    top = data["top"][0]
    assert top["text"] == "Physios in every GP surgery would cut waiting times"
    assert (top["agree"], top["disagree"]) == (1, 0)
    assert top["label"] in ("positive", "neutral", "negative") and top["score"] > 0
    assert set(top) >= {"id", "text", "agree", "disagree", "score", "label"}
    assert data["sentiment"] == {top["label"]: 1}  # counts by label
    assert data["by_question"] == {"ahp-action": 1}

    forget = await in_process(["chat", "--as", "amira"], workdir, database_url, "forget\nyes\n")
    assert "deleted your data" in forget.stdout
    assert await _counts(database_url) == {"participants": 1, "ideas": 0, "votes": 0}


async def test_export_has_pseudonyms_only(workdir: Path, database_url: str) -> None:
    await in_process(
        ["chat", "--as", "+447700900123"],
        workdir,
        database_url,
        "start\nyes\nskip\nskip\nskip\nidea Open physio self-referral everywhere\n",
    )
    out = workdir / "export.csv"
    # The export as a user runs it, once: `python -m bot` in a process of its own.
    result = chorus(["export", "--format", "csv", "--out", str(out)], workdir, database_url)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == 1 and rows[0]["text"] == "Open physio self-referral everywhere"
    assert len(rows[0]["participant"]) == 12 and "7700" not in out.read_text(encoding="utf-8")
    assert rows[0]["channel"] == "console" and rows[0]["language"] == "en"
    as_json = await in_process(["export", "--format", "json"], workdir, database_url)
    assert [row["text"] for row in json.loads(as_json.stdout)] == [rows[0]["text"]]
    as_lines = await in_process(["export", "--format", "jsonl"], workdir, database_url)
    assert json.loads(as_lines.stdout.splitlines()[0])["text"] == rows[0]["text"]


def test_analyse_prints_one_json_object_per_line(workdir: Path) -> None:
    lines = "Email me at a.person@nhs.net please\nThe physio team was wonderful and kind\n"
    result = chorus(["analyse"], workdir, "sqlite+aiosqlite:///unused.db", lines)
    assert result.returncode == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["text"] == "Email me at [email] please" and first["redactions"] == ["email"]
    assert second["label"] == "positive" and second["language"] == "en"
    assert set(second) == {
        "text", "language", "polarity", "subjectivity", "label", "redactions",
        "sentiment_confidence",
    }  # fmt: skip
    assert 0 < second["sentiment_confidence"] <= 1


async def test_a_long_analyse_says_how_far_it_has_got_on_stderr(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.cli.analyse, "PROGRESS_SECONDS", 0.0)  # every batch is "long"
    lines = "".join(f"Idea {n}: longer physio appointments\n" for n in range(600))
    result = await in_process(["analyse"], workdir, "sqlite+aiosqlite://", lines)
    assert result.returncode == 0, result.stderr
    assert len([json.loads(line) for line in result.stdout.splitlines()]) == 600
    said = [line for line in result.stderr.splitlines() if "analysed" in line]
    assert any("analysed 250 lines so far" in line for line in said), result.stderr
    assert "analysed 600 lines in " in said[-1], said


def test_analyse_reads_a_csv_column(workdir: Path) -> None:
    source = workdir / "paper-forms.csv"
    source.write_text("id,idea\n1,Ring 020 7946 0958 for a better service\n", encoding="utf-8")
    result = chorus(
        ["analyse", "--csv", str(source), "--column", "idea"], workdir, "sqlite+aiosqlite://"
    )
    assert json.loads(result.stdout)["text"] == "Ring [phone] for a better service"
    missing = chorus(
        ["analyse", "--csv", str(source), "--column", "nope"], workdir, "sqlite+aiosqlite://"
    )
    assert missing.returncode == 2 and "no column 'nope'" in missing.stderr


def test_analyse_keeps_the_id_column_on_every_line(workdir: Path) -> None:
    source = workdir / "forms.csv"
    source.write_text(
        'row,idea\nF-7,"Ring 020 7946 0958, please"\nF-9,The physio team was kind\n',
        encoding="utf-8",
    )
    args = ["analyse", "--csv", str(source), "--column", "idea", "--id-column", "row"]
    result = chorus(args, workdir, "sqlite+aiosqlite://")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["row"] for line in lines] == ["F-7", "F-9"]
    assert lines[0]["text"] == "Ring [phone], please"
    missing = chorus([*args[:-1], "nope"], workdir, "sqlite+aiosqlite://")
    assert missing.returncode == 2 and "no column 'nope'" in missing.stderr


def test_db_upgrade_reports_the_revision(workdir: Path, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    result = chorus(["db", "upgrade"], workdir, url)
    assert result.returncode == 0, result.stderr
    assert "is at revision" in result.stdout
    current = chorus_in_process(["db", "current"], workdir, url)
    assert current.returncode == 0 and "is at revision" in current.stdout


def test_a_bad_config_stops_with_one_line_naming_the_key(workdir: Path) -> None:
    config = workdir / "config.yaml"
    text = config.read_text(encoding="utf-8").replace("analyser: chorus", "analyser: magic")
    config.write_text(text, encoding="utf-8")
    result = chorus(["run", "--port", "0"], workdir, "sqlite+aiosqlite:///x.db")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "chorus: configuration error: config.yaml: sentiment.analyser: "
        "Input should be 'chorus', 'vader' or 'textblob'"
    ]


def test_an_unreachable_store_stops_run_with_one_line(workdir: Path) -> None:
    result = chorus(
        ["run", "--port", "0"], workdir, "postgresql+asyncpg://postgres@127.0.0.1:1/none"
    )
    assert result.returncode == 3
    lines = [line for line in result.stderr.splitlines() if line.startswith("chorus:")]
    assert len(lines) == 1 and "the store cannot be reached" in lines[0]
    assert "Traceback" not in result.stderr


def test_a_bad_database_url_is_a_configuration_error(workdir: Path) -> None:
    result = chorus(["summary"], workdir, "mysql://root@127.0.0.1/test")
    assert result.returncode == 2 and "supports SQLite and PostgreSQL" in result.stderr


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    # In this process: help is argparse's alone, and six more `python -m bot` starts
    # would cost the suite seconds of imports.
    from bot.cli import main

    commands = (["run"], ["chat"], ["analyse"], ["summary"], ["export"], ["import"])
    for command in (*commands, ["db", "upgrade"]):
        with pytest.raises(SystemExit) as leaving:
            main([*command, "--help"])
        assert leaving.value.code == 0 and "--config" in capsys.readouterr().out, command
