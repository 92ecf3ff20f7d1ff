"""The `chorus` command's promises to the person running it: every command reads --config,
problems a user can fix end in one line (never a traceback), `chorus db upgrade` works on
PostgreSQL, `chorus analyse` prints exactly the documented keys, and `chorus chat` is
interactive on a terminal."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import (
    REPO,
    TEST_SECRET,
    _pg_admin,
    _pg_url,
    create_pg_database,
    pg_database_name,
    write_config,
)
from tests.running_chorus import chorus_in_process
from tests.test_cli import CHORUS, chorus

UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/x"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    write_config(folder / "config.yaml")
    return folder


def _one_line(result: subprocess.CompletedProcess, code: int, *fragments: str) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("chorus:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


COMMANDS = [
    ["run", "--port", "0"],
    ["chat", "--as", "amira"],
    ["analyse"],
    ["summary", "--json"],
    ["export", "--format", "csv"],
    ["db", "upgrade"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_every_command_reads_the_config_it_is_given(workdir: Path, command: list[str]) -> None:
    result = chorus_in_process(
        [*command, "--config", "elsewhere.yaml"], workdir, "sqlite+aiosqlite://"
    )
    _one_line(result, 2, "elsewhere.yaml: no such file")


def test_chat_uses_the_consultation_of_its_config(workdir: Path, tmp_path: Path) -> None:
    other = write_config(
        tmp_path / "other.yaml",
        consultation={
            "name": "Carers Voice",
            "languages": ["en"],
            "privacy_notice": "We keep your ideas and votes, never your name.",
        },
    )
    url = f"sqlite+aiosqlite:///{tmp_path / 'other.db'}"
    args = ["chat", "--as", "amira", "--config", str(other)]
    result = chorus_in_process(args, workdir, url, "start\n")
    assert result.returncode == 0, result.stderr
    assert "Welcome to Carers Voice." in result.stdout


def test_chat_keeps_the_server_log_out_of_the_conversation(workdir: Path, tmp_path: Path) -> None:
    """A chat's terminal is a participant's (or a community worker's): "models ready"
    breaking into it is noise. Warnings still show, and --log-level INFO brings the rest."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"
    quiet = chorus(["chat", "--as", "amira"], workdir, url, "start\n")
    assert quiet.returncode == 0, quiet.stderr
    assert "Welcome to" in quiet.stdout
    assert " INFO " not in quiet.stderr, quiet.stderr
    told = chorus(["chat", "--as", "amira", "--log-level", "INFO"], workdir, url, "start\n")
    assert told.returncode == 0, told.stderr
    assert " INFO handlers.warming: models ready" in told.stderr, told.stderr


@pytest.mark.parametrize(
    ("url", "fragments"),
    [
        (UNREACHABLE, ("the store cannot be reached", "ConnectionRefusedError")),
        (
            "postgresql+asyncpg://postgres@127.0.0.1:5432/chorus_no_such_database",
            ("the store cannot be reached", 'database "chorus_no_such_database" does not exist'),
        ),
        (
            "postgresql+asyncpg://chorus_no_such_role@127.0.0.1:5432/postgres",
            ("the store cannot be reached", "chorus_no_such_role"),
        ),
    ],
    ids=["refused", "no-database", "no-role"],
)
def test_a_store_that_cannot_be_used_stops_run_with_one_line(
    workdir: Path, url: str, fragments: tuple[str, ...], postgres_url: str
) -> None:
    _one_line(run_stopping_by_itself(["--port", "0"], workdir, url), 3, *fragments)


def run_stopping_by_itself(args: list[str], cwd: Path, url: str) -> subprocess.CompletedProcess:
    """`chorus run ARGS` in this process, for a run that must stop by itself (tests/test_cli.py
    starts `run` as a process). A run that serves instead is interrupted after a minute,
    failing the test rather than holding the suite."""

    def too_long(_signum: int, _frame: object) -> None:
        raise TimeoutError("chorus run did not stop by itself")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(60)
    try:
        return chorus_in_process(["run", *args], cwd, url)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_database_urls_chorus_cannot_use_are_configuration_errors(workdir: Path) -> None:
    _one_line(
        chorus_in_process(["summary"], workdir, "postgresql://postgres@127.0.0.1/x"),
        2,
        "postgresql+asyncpg://",
    )
    blocker = workdir / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    _one_line(
        chorus_in_process(["summary"], workdir, f"sqlite+aiosqlite:///{blocker}/chorus.db"),
        2,
        "cannot create the folder for the SQLite file",
    )


def test_a_bad_config_file_stops_run_with_one_line(workdir: Path) -> None:
    config = workdir / "config.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "\nsurprise: true\n", "utf-8")
    _one_line(
        chorus_in_process(["run", "--port", "0"], workdir, "sqlite+aiosqlite:///x.db"),
        2,
        "config.yaml: surprise: Extra inputs are not permitted",
    )
    config.write_text("consultation: [\n", encoding="utf-8")
    bad_yaml = chorus_in_process(["run", "--port", "0"], workdir, "sqlite+aiosqlite:///x.db")
    _one_line(bad_yaml, 2, "line 2")


def test_a_port_in_use_stops_run_with_one_line(workdir: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_stopping_by_itself(
            ["--port", str(port)], workdir, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
        )
    _one_line(result, 2, f"cannot listen on 127.0.0.1:{port}", "--port")


def test_no_secret_and_no_place_to_keep_one_is_one_line(workdir: Path, tmp_path: Path) -> None:
    (workdir / "var").write_text("a file where the folder should be", encoding="utf-8")
    result = chorus_in_process(
        ["summary"], workdir, f"sqlite+aiosqlite:///{tmp_path / 's.db'}", CHORUS_SECRET=""
    )
    _one_line(result, 2, "CHORUS_SECRET is not set", "var/chorus-secret")


def test_db_upgrade_on_postgresql_and_an_outdated_store_is_one_line(
    workdir: Path, postgres_url: str
) -> None:
    name = pg_database_name("upgrade")
    create_pg_database(name)
    url = _pg_url(name)
    try:
        # PostgreSQL is shared by workers, so it is never upgraded behind their backs.
        _one_line(chorus_in_process(["summary"], workdir, url), 3, "run `chorus db upgrade`")
        upgraded = chorus_in_process(["db", "upgrade"], workdir, url)
        assert upgraded.returncode == 0, upgraded.stderr
        assert "store (postgresql) is at revision" in upgraded.stdout
        again = chorus_in_process(["db", "upgrade"], workdir, url)  # nothing to do, still fine
        assert again.returncode == 0 and again.stdout == upgraded.stdout
        summary = chorus_in_process(["summary", "--json"], workdir, url)
        assert summary.returncode == 0, summary.stderr
        assert json.loads(summary.stdout)["participants"] == 0
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_analyse_prints_exactly_the_documented_keys_for_every_line(workdir: Path) -> None:
    lines = [
        "Ring 07700 900123 or write to ann@example.com about NHS 943 476 5919 at SW1A 1AA",
        "Mae'r gwasanaeth ffisiotherapi yn wych iawn",
        "The waiting times were terrible and the service was awful",
        "",
    ]
    result = chorus_in_process(["analyse"], workdir, "sqlite+aiosqlite://", "\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == len(lines)
    for record in records:
        assert list(record) == [
            "text",
            "language",
            "polarity",
            "subjectivity",
            "label",
            "redactions",
            "sentiment_confidence",
        ]
    redacted, welsh, negative, empty = records
    assert redacted["text"] == (
        "Ring [phone] or write to [email] about NHS [nhs-number] at [postcode]"
    )
    assert redacted["redactions"] == ["phone", "email", "nhs_number", "postcode"]
    assert (welsh["language"], welsh["label"], welsh["polarity"]) == ("cy", "unscored", None)
    assert (negative["language"], negative["label"]) == ("en", "negative")
    assert empty["label"] == "unscored" and empty["redactions"] == []
    vader = chorus_in_process(
        ["analyse", "--analyser", "vader"], workdir, "sqlite+aiosqlite://", lines[2] + "\n"
    )
    assert json.loads(vader.stdout)["subjectivity"] is None
    assert json.loads(vader.stdout)["sentiment_confidence"] is None  # a lexicon has none
    assert welsh["sentiment_confidence"] is None and 0 < negative["sentiment_confidence"] <= 1


def test_analyse_refuses_a_csv_that_is_not_utf8_in_one_line(workdir: Path) -> None:
    source = workdir / "latin1.csv"
    source.write_bytes("id,idea\n1,Caf\u00e9 physio\n".encode("latin-1"))
    args = ["analyse", "--csv", str(source), "--column", "idea"]
    _one_line(chorus_in_process(args, workdir, "sqlite://"), 2, "latin1.csv: not UTF-8 text")


def test_chat_is_interactive_on_a_terminal(workdir: Path, tmp_path: Path) -> None:
    controller, terminal = pty.openpty()
    environment = {
        **os.environ,
        "CHORUS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'tty.db'}",
        "CHORUS_SECRET": TEST_SECRET,
        "PYTHONPATH": str(REPO),
    }
    process = subprocess.Popen(
        [*CHORUS, "chat", "--as", "amira", "--log-level", "WARNING"],
        cwd=workdir,
        stdin=terminal,
        stdout=terminal,
        stderr=subprocess.DEVNULL,
        env=environment,
    )
    os.close(terminal)
    try:
        seen = _read_until(controller, "you> ")
        assert "Chatting as 'amira'" in seen
        os.write(controller, b"start\n")
        seen = _read_until(controller, "you> ")
        assert "Do you agree to take part?" in seen and "  1. Yes" in seen
        os.write(controller, b"1\n")  # typing the number picks the choice
        assert "Which best describes you?" in _read_until(controller, "you> ")
        os.write(controller, b"\x04")  # Ctrl-D leaves
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)


def _read_until(fd: int, marker: str, timeout: float = 90) -> str:
    """Read what the terminal shows until `marker` appears (select waits for output)."""
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {marker!r} on the terminal; it showed: {seen!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk.decode("utf-8", "replace")
    return seen
