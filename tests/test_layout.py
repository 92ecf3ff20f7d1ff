"""The shape DESIGN.md asks for: dependencies flow bot -> handlers -> storage, handlers
never import a channel library or the ORM, and every module says what it is for."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

FORBIDDEN = {
    "handlers": {"telegram", "tweepy", "aiohttp", "sqlalchemy", "twilio", "bot"},
    "storage": {"handlers", "bot", "telegram", "tweepy", "aiohttp", "twilio"},
}


def modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_dependencies_flow_one_way(package: str) -> None:
    offenders = {
        str(path.relative_to(REPO)): sorted(imported_roots(path) & FORBIDDEN[package])
        for path in modules(package)
        if imported_roots(path) & FORBIDDEN[package]
    }
    assert offenders == {}


@pytest.mark.parametrize("package", ["bot", "handlers", "storage", "tests", "bench"])
def test_every_module_starts_with_a_docstring(package: str) -> None:
    missing = [
        str(path.relative_to(REPO))
        for path in modules(package)
        if path.name != "__init__.py" or path.stat().st_size
        if ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) is None
    ]
    assert missing == []


def test_the_required_layout_exists() -> None:
    for name in ("bot", "bot/channels", "handlers", "storage", "tests", "bench"):
        assert (REPO / name).is_dir(), name
    for name in ("config.yaml", "pyproject.toml", "Makefile", "README.md", ".ci/run"):
        assert (REPO / name).is_file(), name
