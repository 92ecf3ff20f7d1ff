"""The cheap passes in front of lingua, warming the models up, and `chorus analyse` over a
process pool: fast, and with the answers of the slow way."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.analyse import BATCH, _record
from bot.config import load_settings
from handlers.enrich import Enricher
from handlers.enrich.language import LanguageDetector, plainly_english
from handlers.settings import SentimentSettings
from tests.conftest import TEST_SECRET, write_config

REPO = Path(__file__).resolve().parent.parent

ENGLISH = [
    "The physiotherapists were wonderful and really helpful",
    "I waited three hours for an appointment and nobody told me why",
    "Staff don’t have time to listen",  # a phone's curly apostrophe
    "More physio in the evenings would help people who work 👍",
]
NOT_PLAINLY_ENGLISH = [
    "Roedd y staff yn garedig iawn, thank you",  # Welsh with English words in it
    "Mae'r gwasanaeth yn wych, diolch yn fawr iawn",
    "Kolejki sa za dlugie i nikt nie pomaga",  # Polish typed without diacritics
    "To jest dobry pomysl, ale czekanie jest za dlugie",
    "Je pense que les délais d'attente sont trop longs",
    "Los tiempos de espera son terribles para los pacientes",
    "Timpul de asteptare este groaznic pentru pacienti",
    "Os tempos de espera são terríveis",
    "Die Wartezeiten sind viel zu lang und das Personal ist nicht freundlich",
    "I tempi di attesa sono troppo lunghi e il personale non ascolta",
    "Great",  # too few words to tell at a glance
]


@pytest.mark.parametrize("text", ENGLISH)
def test_plainly_english_text_is_answered_by_the_first_pass(text: str) -> None:
    assert plainly_english(text)


@pytest.mark.parametrize("text", NOT_PLAINLY_ENGLISH)
def test_other_text_is_left_to_lingua(text: str) -> None:
    assert not plainly_english(text)


def test_the_first_pass_only_answers_when_english_is_configured() -> None:
    assert LanguageDetector(("cy", "pl")).detect(ENGLISH[0]) is None
    assert LanguageDetector(("en", "cy", "pl")).detect(ENGLISH[0]) == "en"


def test_warm_up_names_each_part_as_it_is_loaded() -> None:
    enricher = Enricher(("en", "cy"), SentimentSettings(analyser="vader"))
    steps = list(enricher.warm_up_steps())
    assert steps[:2] == ["language:en", "language:cy"]
    assert "language:fr" in steps
    assert steps[-2:] == ["sentiment:vader", "moderation"]
    enricher.warm_up()  # again: nothing left to load, nothing breaks
    assert enricher.enrich("Mae'r gwasanaeth yn wych").language == "cy"


def test_an_enricher_can_be_sent_to_a_worker_process() -> None:
    enricher = Enricher(("en", "cy", "pl"), SentimentSettings())
    copy = pickle.loads(pickle.dumps(enricher))
    for text in [*ENGLISH, *NOT_PLAINLY_ENGLISH]:
        assert copy.enrich(text) == enricher.enrich(text)


def test_analyse_in_a_process_pool_prints_what_one_process_would(tmp_path: Path) -> None:
    write_config(tmp_path / "config.yaml")
    texts = [*ENGLISH, *NOT_PLAINLY_ENGLISH, "Ring 07700 900123", "", "ok", "This is shit"]
    lines = [f"{texts[i % len(texts)]} {i}" for i in range(3 * BATCH + 7)]
    result = subprocess.run(
        [sys.executable, "-m", "bot", "analyse"],
        cwd=tmp_path,
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "CHORUS_DATABASE_URL": "sqlite+aiosqlite://",
            "CHORUS_SECRET": TEST_SECRET,
            "PYTHONPATH": str(REPO),
        },
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    settings = load_settings(
        tmp_path / "config.yaml",
        {"CHORUS_DATABASE_URL": "sqlite+aiosqlite://", "CHORUS_SECRET": TEST_SECRET},
    ).consultation
    enricher = Enricher(settings.consultation.languages, settings.sentiment)
    expected = [_record(enricher.enrich(line)) for line in lines]
    assert [json.loads(line) for line in result.stdout.splitlines()] == expected


def test_analyse_starts_without_the_store_or_the_channels(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml")
    script = (
        "import sys\n"
        "from bot.cli import main\n"
        f"code = main(['analyse', '--config', {str(config)!r}])\n"
        "heavy = ('sqlalchemy', 'aiohttp', 'telegram', 'tweepy')\n"
        "print(code, sorted(name for name in heavy if name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        input="",
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "CHORUS_SECRET": TEST_SECRET},
        timeout=120,
    )
    assert result.stdout.strip() == "0 []", result.stderr
