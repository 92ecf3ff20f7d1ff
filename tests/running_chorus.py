"""Chorus as the tests run it: a command through the CLI's entry point in the test's own
process (`chorus_in_process`), and the server as `chorus run` starts it on a random port
(`chorus_server`), its texts enriched by one worker process shared by the servers a test
worker starts (`shared_enrichment`)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

from bot.config import Settings
from bot.runtime import Runtime
from handlers.enrichment_process import EnrichmentProcess

TEST_SECRET = "test-secret-for-chorus-0123456789"


# --- The command line, in this process ----------------------------------------------


def chorus_in_process(
    args: list[str], cwd: Path, database_url: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess:
    """`chorus ARGS` run through the CLI's entry point in this process, in folder `cwd`,
    with the store (and `env`) in the environment and `stdin` as its standard input (a
    pipe's, not a terminal's); its log lines count as its stderr.

    For commands that end by themselves (not `run` or an interactive `chat`): it saves the
    second or more a `python -m bot` start costs, and reuses the models this process has
    loaded. Tests of the command as a process (exit codes of `python -m bot`, signals, a
    terminal) start one instead. Changes the working folder and environment for the
    duration, so run it from one thread at a time (from a test's event loop, in a thread:
    commands run their own loop).
    """
    from bot.cli import main

    environment = {"CHORUS_DATABASE_URL": database_url, "CHORUS_SECRET": TEST_SECRET, **env}
    stdout, stderr = io.StringIO(), io.StringIO()
    logs = logging.StreamHandler(stderr)
    root = logging.getLogger()
    level = root.level
    # The CLI quietens some libraries' loggers; give the tests that follow them back.
    levels = {
        name: logger.level
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    saved = {name: os.environ.get(name) for name in environment}
    folder = os.getcwd()
    given_stdin = sys.stdin
    os.environ.update(environment)
    root.addHandler(logs)
    root.setLevel(logging.INFO)
    try:
        os.chdir(cwd)
        sys.stdin = io.StringIO(stdin)
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(args)
    finally:
        sys.stdin = given_stdin
        os.chdir(folder)
        root.removeHandler(logs)
        root.setLevel(level)
        for name, logger_level in levels.items():
            logging.getLogger(name).setLevel(logger_level)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return subprocess.CompletedProcess(
        ["chorus", *args], code, stdout.getvalue(), stderr.getvalue()
    )


# --- Chorus's server, as `chorus run` starts it ---------------------------------------

_enrichment: dict[str, EnrichmentProcess] = {}


def shared_enrichment(settings: Settings) -> EnrichmentProcess:
    """This worker's enrichment process for the settings' languages and sentiment model,
    started at first use and kept until the session ends.

    A server started by a test enriches texts in a worker process, as `chorus run` does;
    one of its own would load the models again (3 to 5 s that its first message waits).
    Tests of the server's own start (tests/test_server.py) start theirs the usual way.
    """
    config = settings.consultation
    key = repr((tuple(config.consultation.languages), config.sentiment))
    if key not in _enrichment:
        _enrichment[key] = EnrichmentProcess(config.consultation.languages, config.sentiment)
    return _enrichment[key]


def chorus_server(settings: Settings) -> Runtime:
    """Chorus's server on a random port (not started), sharing `shared_enrichment`."""
    return Runtime(settings, port=0, enricher=shared_enrichment(settings))


def close_shared_enrichment() -> None:
    """End the shared enrichment processes (at the end of the test session)."""
    for process in _enrichment.values():
        process.close()
    _enrichment.clear()
