"""The sentiment analysers, their labels, the registry, and the benchmark's scoring."""

from __future__ import annotations

import importlib.util
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import nltk
import pytest

from handlers.enrich import Enricher
from handlers.enrich.sentiment import (
    ANALYSERS,
    SentimentAnalyser,
    TextBlobAnalyser,
    VaderAnalyser,
    get_analyser,
    label_for,
)
from handlers.settings import SentimentSettings

REPO = Path(__file__).resolve().parent.parent
GOOD = "The physiotherapists were wonderful and really helpful"
BAD = "The waiting times were terrible and the service was awful"


# --- Labels ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("polarity", "label"),
    [
        (1.0, "positive"),
        (0.05, "positive"),  # the threshold itself counts
        (0.0499, "neutral"),
        (0.0, "neutral"),
        (-0.0499, "neutral"),
        (-0.05, "negative"),
        (-1.0, "negative"),
    ],
)
def test_default_labels_use_a_band_of_0_05(polarity: float, label: str) -> None:
    assert label_for(polarity, SentimentSettings()) == label


def test_labels_follow_configured_thresholds() -> None:
    wide = SentimentSettings(positive_threshold=0.3, negative_threshold=-0.2)
    assert label_for(0.29, wide) == "neutral"
    assert label_for(0.3, wide) == "positive"
    assert label_for(-0.19, wide) == "neutral"
    assert label_for(-0.2, wide) == "negative"


# --- The analysers --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["textblob", "vader"])
def test_each_registered_analyser_separates_good_from_bad(name: str) -> None:
    analyser = get_analyser(name)
    assert analyser.name == name
    good, _ = analyser.analyse(GOOD)
    bad, _ = analyser.analyse(BAD)
    assert -1 <= bad < 0 < good <= 1


def test_textblob_gives_textblobs_own_polarity_and_subjectivity() -> None:
    from textblob import TextBlob

    expected = TextBlob(GOOD).sentiment
    assert get_analyser("textblob").analyse(GOOD) == (expected.polarity, expected.subjectivity)


def test_vader_gives_the_compound_score_and_no_subjectivity() -> None:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    compound = SentimentIntensityAnalyzer().polarity_scores(BAD)["compound"]
    assert get_analyser("vader").analyse(BAD) == (compound, None)


def test_textblob_needs_no_nltk_corpora_and_no_network(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the analyser tried to use the network")

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    monkeypatch.setattr(socket.socket, "connect", no_network)
    polarity, subjectivity = TextBlobAnalyser().analyse(GOOD)
    assert polarity > 0 and subjectivity is not None


def test_analysers_are_built_once_and_shared() -> None:
    assert get_analyser("vader") is get_analyser("vader")
    assert isinstance(get_analyser("vader"), VaderAnalyser)


def test_an_unknown_analyser_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown sentiment analyser 'magic'"):
        get_analyser("magic")


class HalfAnalyser:
    """A stand-in for a better analyser: everything is mildly positive."""

    name = "half"

    def analyse(self, text: str) -> tuple[float, float | None]:
        return 0.5, None


@pytest.fixture
def half_registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(ANALYSERS, "half", HalfAnalyser)
    yield
    get_analyser.cache_clear()


def test_a_new_analyser_plugs_in_by_name(half_registered: None) -> None:
    analyser: SentimentAnalyser = get_analyser("half")
    assert analyser.name == "half"
    settings = SentimentSettings.model_construct(
        analyser="half", positive_threshold=0.05, negative_threshold=-0.05
    )
    result = Enricher(("en", "cy"), settings).enrich(BAD)
    assert (result.polarity, result.subjectivity, result.label) == (0.5, None, "positive")


# --- The benchmark's scoring ----------------------------------------------------------


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_sentiment", REPO / "bench" / "sentiment.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def write_sets(folder: Path, rows: list[tuple[float, str]]) -> None:
    lines = ["id\tmean_rating\ttext"] + [f"{i}\t{r}\t{t}" for i, (r, t) in enumerate(rows, 1)]
    for filename in (
        "tweets.tsv",
        "movieReviewSnippets.tsv",
        "amazonReviewSnippets.tsv",
        "nytEditorialSnippets.tsv",
    ):
        (folder / filename).write_text("\n".join(lines) + "\n", encoding="utf-8")


RATED = [
    (3.2, "I love it, wonderful!"),
    (-2.8, 'Terrible, the "worst" day'),
    (0.1, "It is a table."),
    (1.9, "Pretty good"),
    (-0.1, "It is Tuesday."),
]


class EchoAnalyser:
    """Gives back the human rating hidden at the start of the text."""

    name = "echo"

    def analyse(self, text: str) -> tuple[float, float | None]:
        return float(text.split()[0]) / 4, None


def test_a_perfect_analyser_scores_1_on_every_measure(bench: ModuleType) -> None:
    rows = [bench.Rated(rating, f"{rating} {text}") for rating, text in RATED]
    result = bench.evaluate(EchoAnalyser(), rows)
    assert result.accuracy == 1.0
    assert result.macro_f1 == 1.0
    assert result.pearson_r == pytest.approx(1.0)
    assert result.per_second > 0


def test_human_ratings_are_labelled_after_dividing_by_4(bench: ModuleType) -> None:
    # 0.1 / 4 = 0.025 is neutral although 0.1 alone would be positive.
    rows = [bench.Rated(0.1, "1 x"), bench.Rated(-0.1, "-1 x")]
    result = bench.evaluate(EchoAnalyser(), rows)
    assert result.accuracy == 0.0


def test_the_benchmark_reads_the_sets_unquoted(bench: ModuleType, tmp_path: Path) -> None:
    write_sets(tmp_path, RATED)
    rows = bench.load_set(tmp_path / "tweets.tsv")
    assert [(row.rating, row.text) for row in rows] == RATED
    assert len(bench.load_set(tmp_path / "tweets.tsv", limit=2)) == 2


def test_the_benchmark_prints_a_row_per_set_and_analyser(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_sets(tmp_path, RATED)
    assert bench.main(["--data", str(tmp_path), "--analyser", "all", "--limit", "4"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    table = [row for row in rows if row and row[0] in ("tweets", "movie", "amazon", "nyt")]
    assert [(row[0], row[1], row[2]) for row in table] == [
        (name, "4", analyser)
        for name in ("tweets", "movie", "amazon", "nyt")
        for analyser in ("textblob", "vader")
    ]


def test_the_benchmark_says_clearly_when_the_data_is_missing(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main(["--data", str(tmp_path / "nowhere")]) == 2
    error = capsys.readouterr().err
    assert "sentiment sets are missing" in error
    assert "tweets.tsv" in error


def test_the_benchmark_can_run_the_configured_analyser_alone(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_sets(tmp_path, RATED)
    assert bench.main(["--data", str(tmp_path), "--analyser", "configured", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "configured analyser (config.yaml sentiment.analyser): textblob" in out
    table = [line.split() for line in out.splitlines() if line.startswith("tweets")]
    assert [row[2] for row in table] == ["textblob"]
