"""Benchmark: the enrichment Chorus runs on every text, stage by stage, against the way it
was done before (measured in the same run), and `chorus analyse` on 10,000 lines.

Texts: English texts of the human-rated VADER sets in ../shared/data/sentiment/ (tweets,
reviews, editorials; see bench/sentiment.py), shuffled with a fixed seed, with one text in
twenty taken from a small mix of Welsh, Polish, other languages, personal data and abuse,
so that every path of every stage runs.

Stages, each timed over every text (CPU µs a text, and texts a second):
    clean + redact   control characters, then emails, NHS numbers, phone numbers, postcodes
    language         the configured languages (en, cy, pl) or None
    moderation       abuse (better_profanity's list) or a named individual
    sentiment        the analyser, on the texts found English (the same code before and now)
    whole            Enricher.enrich, one text a call
      N at a time    Enricher.enrich_many, in the batches its callers send: the server's
                     enrichment process (up to 64 texts waiting together) and chorus
                     analyse (250 lines); stage by stage across the batch, each stage's
                     tables stay in the processor's caches (the answers must be the same)

"Before" is the method this branch replaced: better_profanity's own scan (as shipped,
with a (length, first letter) index over its list; its plain scan is timed on a sample),
lingua in high-accuracy mode over the configured and contrast languages for every text,
and every redaction finder run on every text. The answers are compared as well: the
redactions and moderation flags must be the same; the languages differ only where the
first pass answers "en" for text lingua was unsure of.

    python bench/enrich.py                      # 3,000 texts, then chorus analyse
    python bench/enrich.py --texts 10000 --analyser vader
    python bench/enrich.py --skip-analyse
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from better_profanity import Profanity
from better_profanity.varying_string import VaryingString

from bot.cli.analyse import BATCH
from handlers.enrich import Enricher, clean_text
from handlers.enrich.language import MIN_LETTERS, LanguageDetector
from handlers.enrich.moderation import _ROAD, abuse_words, moderation_flag, names_a_person
from handlers.enrich.pipeline import SCORED_LANGUAGE, analysis_text
from handlers.enrich.redact import FINDERS, MARKERS, Redacted, redact
from handlers.enrich.sentiment import ANALYSERS, get_analyser
from handlers.enrichment_batches import BATCH_LIMIT
from handlers.settings import SentimentSettings

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "sentiment"
SETS = ("tweets.tsv", "movieReviewSnippets.tsv", "amazonReviewSnippets.tsv")
LANGUAGES = ("en", "cy", "pl")
TARGET_PER_SECOND = 4_000
# Enricher.enrich_many, as its callers batch: the server's enrichment process takes up to
# BATCH_LIMIT texts waiting together, chorus analyse sends BATCH lines at a time.
BATCH_USERS = {BATCH_LIMIT: "the server's batches", BATCH: "chorus analyse"}
BATCH_SIZES = tuple(BATCH_USERS)
ANALYSE_TARGET_SECONDS = 5.0
MIX = (
    "Mae'r gwasanaeth ffisiotherapi yn wych iawn, diolch",
    "Roedd y nyrs yn garedig iawn ond roedd yr aros yn hir",
    "Diolch",
    "Kolejki do fizjoterapeuty są za długie",
    "Kolejki sa za dlugie",
    "Bardzo dobry pomysł, dziękuję!",
    "Je pense que les délais d'attente sont trop longs",
    "Los tiempos de espera son terribles",
    "Timpul de așteptare este groaznic",
    "Ring me on 07700 900123 or email ann.jones@example.com",
    "My NHS number is 943 476 5919 and I live at SW1A 1AA",
    "Dr Smith on ward 5 was rude to my mum",
    "This service is shit and the waiting list is a joke",
    "What a load of sh1t",
    "Fine.",
    "ok",
)


# --- The method before this branch ------------------------------------------------------


class _IndexedWords(list[VaryingString]):
    """better_profanity's list searched by (length, first letter), as Chorus shipped it."""

    def __init__(self, words: Iterable[VaryingString], char_map: Mapping[str, tuple[str, ...]]):
        super().__init__(words)
        self._buckets: dict[tuple[int, str], list[VaryingString]] = defaultdict(list)
        for word in self:
            original = str(word)
            for first in char_map.get(original[0], (original[0],)):
                self._buckets[(len(original), first)].append(word)

    def __contains__(self, candidate: object) -> bool:
        if not isinstance(candidate, str) or not candidate:
            return False
        bucket = self._buckets.get((len(candidate), candidate[0]), ())
        return any(word == candidate for word in bucket)


def profanity_before(*, indexed: bool) -> Profanity:
    profanity = Profanity(abuse_words())
    if indexed:
        profanity.CENSOR_WORDSET = _IndexedWords(profanity.CENSOR_WORDSET, profanity.CHARS_MAPPING)
    return profanity


def moderation_before(profanity: Profanity) -> Callable[[str], str | None]:
    def flag(text: str) -> str | None:
        if profanity.contains_profanity(_ROAD.sub(" ", text)):
            return "abuse"
        return "named_person" if names_a_person(text) else None

    return flag


def redact_before(text: str) -> Redacted:
    """Every finder on every text, as before `could_hold`."""
    found: list[tuple[int, int, str]] = []
    masked = text
    for kind, finder in FINDERS:
        for start, end in list(finder(masked)):
            found.append((start, end, kind))
            masked = masked[:start] + "\x00" * (end - start) + masked[end:]
    if not found:
        return Redacted(text, ())
    found.sort()
    parts: list[str] = []
    kinds: list[str] = []
    position = 0
    for start, end, kind in found:
        parts += [text[position:start], MARKERS[kind]]
        position = end
        if kind not in kinds:
            kinds.append(kind)
    parts.append(text[position:])
    return Redacted("".join(parts), tuple(kinds))


def language_before(detector: LanguageDetector) -> Callable[[str], str | None]:
    """lingua in high-accuracy mode on every text, with the same thresholds."""

    def detect(text: str) -> str | None:
        letters = sum(map(str.isalpha, text))
        if letters < MIN_LETTERS:
            return None
        return detector._judge(text, letters, low_accuracy=False)

    return detect


# --- Measuring --------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    cpu_us: float  # CPU µs a text
    per_second: float  # texts a second, wall clock


def timed(function: Callable[[str], object], texts: Sequence[str]) -> tuple[Timing, list[object]]:
    cpu, wall = time.process_time(), time.perf_counter()
    results = [function(text) for text in texts]
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    count = max(len(texts), 1)
    return Timing(cpu / count * 1e6, count / wall if wall > 0 else float("inf")), results


def load_texts(data: Path, count: int) -> list[str]:
    texts: list[str] = []
    for name in SETS:
        with (data / name).open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            next(reader, None)
            texts += [row[2].replace("\n", " ") for row in reader if len(row) == 3]
    rng = random.Random(12)
    rng.shuffle(texts)
    mixed = []
    for index, text in enumerate(texts[:count]):
        mixed.append(MIX[index // 20 % len(MIX)] if index % 20 == 19 else text)
    return mixed


def row(name: str, before: Timing | None, now: Timing) -> str:
    if before is None:
        return f"  {name:<26}{'':>24}{now.per_second:>10,.0f}/s {now.cpu_us:>8,.1f} µs"
    ratio = before.cpu_us / now.cpu_us if now.cpu_us else float("inf")
    return (
        f"  {name:<26}{before.per_second:>10,.0f}/s {before.cpu_us:>8,.1f} µs"
        f"{now.per_second:>10,.0f}/s {now.cpu_us:>8,.1f} µs {ratio:>7.1f}×"
    )


def stages(texts: list[str], analyser: str, plain_sample: int) -> None:
    settings = SentimentSettings(analyser=analyser)
    enricher = Enricher(LANGUAGES, settings)
    detector = LanguageDetector(LANGUAGES)
    started = time.process_time()
    enricher.warm_up()
    print(f"models loaded (Enricher.warm_up): {time.process_time() - started:.2f} s CPU")
    indexed = profanity_before(indexed=True)
    plain = profanity_before(indexed=False)
    old_language = language_before(detector)
    old_moderation = moderation_before(indexed)
    sentiment = get_analyser(analyser)

    print(f"\n{len(texts):,} texts, analyser {analyser}, languages {', '.join(LANGUAGES)}")
    print(f"  {'stage':<26}{'before':>24}{'now':>24}{'CPU ratio':>10}")

    before_redact, old_redacted = timed(lambda t: redact_before(clean_text(t)), texts)
    now_redact, new_redacted = timed(lambda t: redact(clean_text(t)), texts)
    same_redactions = sum(a == b for a, b in zip(old_redacted, new_redacted, strict=True))
    print(row("clean + redact", before_redact, now_redact))

    words = [analysis_text(r.text) for r in new_redacted]  # type: ignore[attr-defined]
    before_language, old_languages = timed(old_language, words)
    now_language, new_languages = timed(detector.detect, words)
    print(row("language", before_language, now_language))

    stored = [r.text for r in new_redacted]  # type: ignore[attr-defined]
    before_moderation, old_flags = timed(old_moderation, stored)
    now_moderation, new_flags = timed(moderation_flag, stored)
    print(row("moderation", before_moderation, now_moderation))
    sample = stored[:plain_sample]
    plain_scan, _ = timed(moderation_before(plain), sample)
    print(row(f"  (library's plain scan, {len(sample)})", plain_scan, now_moderation))

    english = [w for w, language in zip(words, new_languages, strict=True) if language == "en"]
    now_sentiment, _ = timed(sentiment.analyse, english)
    share = len(english) / max(len(texts), 1)
    print(row(f"sentiment ({share:.0%} of texts)", None, now_sentiment))

    def enrich_before(text: str) -> tuple[object, ...]:
        redacted = redact_before(clean_text(text))
        analysed = analysis_text(redacted.text)
        language = old_language(analysed)
        polarity = sentiment.analyse(analysed)[0] if language == SCORED_LANGUAGE else None
        return redacted.text, language, polarity, old_moderation(redacted.text)

    before_whole, _ = timed(enrich_before, texts)
    now_whole, alone = timed(enricher.enrich, texts)
    print(row("whole enrichment", before_whole, now_whole))
    batched: dict[int, Timing] = {}
    for size in BATCH_SIZES:
        chunks = [texts[i : i + size] for i in range(0, len(texts), size)]
        timing, results = timed(enricher.enrich_many, chunks)  # type: ignore[arg-type]
        batched[size] = Timing(timing.cpu_us / size, timing.per_second * size)
        if [e for chunk in results for e in chunk] != alone:  # type: ignore[attr-defined]
            raise SystemExit(f"enrich_many in batches of {size} answered otherwise")
        print(row(f"  {size} at a time ({BATCH_USERS[size]})", None, batched[size]))

    print(f"\ntarget ≥ {TARGET_PER_SECOND:,} texts/s in one process:")
    for label, timing in [("one text a call", now_whole)] + [
        (f"{size} at a time", timing) for size, timing in batched.items()
    ]:
        met = "met" if timing.per_second >= TARGET_PER_SECOND else "NOT met"
        print(
            f"  {label:<16} {met} ({timing.per_second:,.0f}/s wall, "
            f"{1e6 / timing.cpu_us:,.0f}/s of one core's CPU)"
        )
    print(
        f"answers: redactions the same for {same_redactions:,}/{len(texts):,}; "
        f"moderation the same for "
        f"{sum(a == b for a, b in zip(old_flags, new_flags, strict=True)):,}/{len(texts):,}; "
        f"language the same for "
        f"{sum(a == b for a, b in zip(old_languages, new_languages, strict=True)):,}"
        f"/{len(texts):,}"
    )
    changed: dict[tuple[object, object], int] = defaultdict(int)
    for old, new in zip(old_languages, new_languages, strict=True):
        if old != new:
            changed[(old, new)] += 1
    if changed:
        print(
            "  languages changed (before → now): "
            + ", ".join(f"{o} → {n}: {c}" for (o, n), c in sorted(changed.items(), key=str))
        )


# --- chorus analyse ---------------------------------------------------------------------


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_analyse(
    lines_file: Path, config: Path, analyser: str, cores: set[int] | None
) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (all processes) and output of one `chorus analyse`."""

    def pin() -> None:
        if cores is not None:
            os.sched_setaffinity(0, cores)

    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    cpu, wall = _children_cpu(), time.perf_counter()
    with lines_file.open(encoding="utf-8") as stdin:
        result = subprocess.run(
            [sys.executable, "-m", "bot", "analyse", "--config", str(config)]
            + ["--analyser", analyser],
            stdin=stdin,
            capture_output=True,
            text=True,
            env=environment,
            preexec_fn=pin,
            check=False,
        )
    wall, cpu = time.perf_counter() - wall, _children_cpu() - cpu
    if result.returncode != 0:
        raise SystemExit(f"chorus analyse failed: {result.stderr.strip()}")
    return wall, cpu, result.stdout


def analyse(texts: list[str], count: int, config: Path, analyser: str) -> None:
    lines = [texts[i % len(texts)] for i in range(count)]
    with tempfile.TemporaryDirectory() as folder:
        lines_file = Path(folder) / "lines.txt"
        lines_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        one_line = Path(folder) / "one.txt"
        one_line.write_text("The physiotherapists were wonderful\n", encoding="utf-8")
        print(
            f"\nchorus analyse --analyser {analyser}, {count:,} lines on stdin, start-up included"
        )
        print(f"  {'run':<34}{'wall s':>8}{'lines/s':>10}{'CPU s':>8}")
        start_wall, start_cpu, _ = run_analyse(one_line, config, analyser, None)
        print(f"  {'one line (start-up alone)':<34}{start_wall:>8.2f}{'':>10}{start_cpu:>8.2f}")
        first = sorted(os.sched_getaffinity(0))[0]
        one_wall, one_cpu, one_out = run_analyse(lines_file, config, analyser, {first})
        print(f"  {'one core':<34}{one_wall:>8.2f}{count / one_wall:>10,.0f}{one_cpu:>8.2f}")
        all_wall, all_cpu, all_out = run_analyse(lines_file, config, analyser, None)
        label = f"all {len(os.sched_getaffinity(0))} cores (process pool)"
        print(f"  {label:<34}{all_wall:>8.2f}{count / all_wall:>10,.0f}{all_cpu:>8.2f}")
        same = "the same" if one_out == all_out else "DIFFERENT"
        met = "met" if all_wall < ANALYSE_TARGET_SECONDS else "NOT met"
        print(
            f"  output of both runs {same}; pool/one core: {one_wall / all_wall:.2f}× faster; "
            f"target under {ANALYSE_TARGET_SECONDS:.0f} s: {met}"
        )


# --- Main -------------------------------------------------------------------------------


def configured_analyser(config: Path) -> str:
    from bot.config import load_settings

    return load_settings(config, environ={}).consultation.sentiment.analyser


def machine() -> str:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{platform.machine()}, {os.cpu_count()} cores (load average {load}), "
        f"Python {platform.python_version()}"
    )


def through_the_worker(texts: list[str], analyser: str) -> None:
    """What the server's own process spends handing texts to the enrichment worker
    process (chorus run), when many arrive at once: one call a text from a thread each,
    as before, against the texts that wait sent together (handlers/enrichment_batches.py).
    Each twice, all at once; the second round is the one reported (the first warms)."""
    import asyncio

    from handlers.enrichment_batches import EnrichmentBatches
    from handlers.enrichment_process import EnrichmentProcess
    from handlers.settings import SentimentSettings

    async def rounds(worker: EnrichmentProcess) -> dict[str, tuple[float, float]]:
        loop = asyncio.get_running_loop()
        figures: dict[str, tuple[float, float]] = {}
        for _round in range(2):
            started, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(loop.run_in_executor(None, worker.enrich, t) for t in texts))
            figures["one call a text"] = (time.perf_counter() - started, time.process_time() - cpu)
            batches = EnrichmentBatches(lambda: worker)
            started, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(batches.enrich(text) for text in texts))
            figures["batched"] = (time.perf_counter() - started, time.process_time() - cpu)
        return figures

    sentiment = SentimentSettings.model_validate({"analyser": analyser})
    worker = EnrichmentProcess(("en", "cy", "pl"), sentiment)
    try:
        worker.warm_up()
        figures = asyncio.run(rounds(worker))
    finally:
        worker.close()
    print(f"\nthrough the worker process, {len(texts):,} texts at once (the server's own CPU)")
    for name, (wall, cpu) in figures.items():
        print(f"  {name:16} {wall:6.2f} s wall  {cpu / len(texts) * 1e6:8.1f} µs CPU a text")
    one, batched = figures["one call a text"][1], figures["batched"][1]
    print(f"  batched/one call: {batched / one:.2f}x the server's CPU")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the VADER sets' folder")
    parser.add_argument("--config", type=Path, default=REPO / "config.yaml")
    parser.add_argument("--texts", type=int, default=3000, help="texts per stage (3000)")
    parser.add_argument(
        "--analyser",
        choices=[*ANALYSERS, "configured"],
        default="configured",
        help="sentiment analyser (default: the one the config chooses)",
    )
    parser.add_argument("--plain-sample", type=int, default=300, metavar="N")
    parser.add_argument("--analyse-lines", type=int, default=10_000, metavar="N")
    parser.add_argument("--skip-analyse", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not (args.data / SETS[0]).exists():
        print(f"no {SETS[0]} in {args.data}; point --data at the VADER sets", file=sys.stderr)
        return 2
    analyser = configured_analyser(args.config) if args.analyser == "configured" else args.analyser
    print(f"bench/enrich.py on {machine()}")
    texts = load_texts(args.data, args.texts)
    stages(texts, analyser, args.plain_sample)
    through_the_worker(texts[:1000], analyser)
    if not args.skip_analyse:
        texts = load_texts(args.data, args.analyse_lines)
        analyse(texts, args.analyse_lines, args.config, analyser)
    return 0


if __name__ == "__main__":
    sys.exit(main())
