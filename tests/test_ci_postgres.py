"""CI must not pass by skipping: with CI=true and no PostgreSQL, the suite fails."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO


def run_store_test(ci: str | None) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "CHORUS_TEST_PG_ADMIN": "postgresql://postgres@127.0.0.1:1/postgres",
        "CHORUS_TEST_MODELS_AT_FIRST_USE": "1",  # the test sends no message
    }
    environment.pop("CI", None)
    if ci is not None:
        environment["CI"] = ci
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:hypothesispytest",  # a second of imports; the test uses none of it
            "tests/test_store.py::test_health_reports_backend_and_revision",
        ],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_unreachable_postgres_fails_under_ci() -> None:
    result = run_store_test("true")
    assert result.returncode != 0
    assert "PostgreSQL is not reachable" in result.stdout
    assert "1 passed" in result.stdout  # the SQLite half still ran


def test_unreachable_postgres_is_skipped_outside_ci() -> None:
    result = run_store_test(None)
    assert result.returncode == 0, result.stdout
    assert "1 passed, 1 skipped" in result.stdout
