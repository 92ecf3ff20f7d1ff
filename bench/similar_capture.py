"""How fast "is your idea like one of these?" answers, at 1k, 10k and 100k ideas.

For each size: the time to build a question's LikenessIndex, then the time of each
look-up for new ideas (a third of them rewordings of stored ideas, so matches are found
and ranked), as median, 95th percentile and worst wall time, and CPU time per look-up.
The target is 50 ms per look-up at 100,000 ideas.

The baseline, measured in the same run: no index, the similar-ideas job's own method
(handlers.insights.similar.similarity_matrix fitted over the stored ideas and the new
one, then one row of cosines) for each look-up; the ratio says what the index saves.

    .venv/bin/python bench/similar_capture.py            # 1k, 10k, 100k
    .venv/bin/python bench/similar_capture.py --sizes 1000 10000 --lookups 50
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from handlers.insights.similar import similarity_matrix
from handlers.likeness import LikenessIndex
from handlers.settings import InsightsSettings

THRESHOLD = InsightsSettings().similar_threshold
TEMPLATES = [
    "waiting times for {a} are far too long in {p}",
    "let patients refer themselves to {a} without seeing a GP",
    "train and pay {s} properly so they stay in {p}",
    "book {a} appointments online and get text reminders",
    "more home visits from {s} for {g} after discharge",
    "run {a} clinics in {p} closer to home",
    "mental health support for {g} and for {s}",
    "free parking and transport for {g} at hospitals",
    "longer appointments with {s} for {g}",
    "one shared record so {s} do not ask {g} the same questions",
    "evening and weekend {a} for {g} who work",
    "less paperwork so {s} see more {g}",
]
FILLERS = {
    "a": ["physiotherapy", "podiatry", "speech therapy", "dietetics", "x-ray", "scans",
          "hearing tests", "wheelchair services", "occupational therapy", "orthotics"],
    "p": ["libraries", "schools", "GP surgeries", "town centres", "rural areas",
          "community centres", "care homes", "the north", "Wales", "small towns"],
    "s": ["radiographers", "paramedics", "physios", "dietitians", "support workers",
          "therapists", "students", "podiatrists", "orthoptists", "osteopaths"],
    "g": ["older people", "carers", "children", "stroke survivors", "people with dementia",
          "new parents", "veterans", "students", "people who cannot drive", "patients"],
}  # fmt: skip


def made_up_words(rng: np.random.Generator, count: int) -> list[str]:
    """Word-like strings, so n-grams are as varied as free text, not only templates."""
    syllables = ["ba", "ke", "lor", "mi", "nus", "pa", "qui", "ret", "sa", "tol", "ur", "ven",
                 "wi", "xo", "yan", "zed", "ath", "bri", "cro", "dun"]  # fmt: skip
    return [
        "".join(rng.choice(syllables, size=int(rng.integers(2, 4))).tolist()) for _ in range(count)
    ]


def idea_texts(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    extra = made_up_words(rng, 5000)
    texts = []
    for _ in range(count):
        template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
        text = template.format(**{key: rng.choice(words) for key, words in FILLERS.items()})
        tail = " ".join(rng.choice(extra, size=int(rng.integers(2, 8))).tolist())
        texts.append(f"{text} {tail}".capitalize())
    return texts


def lookups(stored: list[str], count: int, seed: int) -> list[str]:
    """New ideas: a third reword a stored one (a word dropped, one added)."""
    rng = np.random.default_rng(seed)
    fresh = idea_texts(count, seed + 1)
    for n in range(0, count, 3):
        words = stored[int(rng.integers(len(stored)))].split()
        del words[int(rng.integers(len(words)))]
        fresh[n] = " ".join([*words, "please"])
    return fresh


def timed(function, *args) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def baseline_lookup(stored: list[str], text: str) -> int:
    """Without an index: the similar-ideas job's fit over every idea and the new one."""
    matrix = similarity_matrix([*stored, text])
    row = (matrix[:-1] @ matrix[-1].T).toarray().ravel()
    return int((row >= THRESHOLD).sum())


def run_size(size: int, count: int, baseline_count: int) -> dict:
    stored = idea_texts(size, seed=size)
    build_wall, build_cpu, index = timed(LikenessIndex, list(enumerate(stored, 1)), THRESHOLD)
    queries = lookups(stored, count, seed=size + 7)
    index.find(queries[0])  # first call pays for imports and caches
    walls, cpus, found = [], [], 0
    for text in queries:
        wall, cpu, alike = timed(index.find, text)
        walls.append(wall)
        cpus.append(cpu)
        found += bool(alike)
    base_walls = [timed(baseline_lookup, stored, text)[0] for text in queries[:baseline_count]]
    walls.sort()
    return {
        "ideas": size,
        "build_s": build_wall,
        "build_cpu_s": build_cpu,
        "median_ms": statistics.median(walls) * 1000,
        "p95_ms": walls[int(len(walls) * 0.95) - 1] * 1000,
        "max_ms": walls[-1] * 1000,
        "cpu_ms": sum(cpus) / len(cpus) * 1000,
        "with_match": found / len(queries),
        "baseline_ms": statistics.median(base_walls) * 1000 if base_walls else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--lookups", type=int, default=200, help="per size (default 200)")
    parser.add_argument(
        "--baseline-lookups", type=int, default=3, help="per size, for the slow baseline"
    )
    args = parser.parse_args()
    print(f"threshold {THRESHOLD}; {args.lookups} look-ups per size; target 50 ms at 100k")
    print(
        f"{'ideas':>8} {'build s':>8} {'median ms':>10} {'p95 ms':>8} {'max ms':>8} "
        f"{'cpu ms':>7} {'matched':>8} {'baseline ms':>12} {'ratio':>7}"
    )
    for size in args.sizes:
        row = run_size(size, args.lookups, args.baseline_lookups)
        base = row["baseline_ms"]
        ratio = f"{base / row['median_ms']:.0f}x" if base else "-"
        print(
            f"{row['ideas']:>8,} {row['build_s']:>8.2f} {row['median_ms']:>10.2f} "
            f"{row['p95_ms']:>8.2f} {row['max_ms']:>8.2f} {row['cpu_ms']:>7.2f} "
            f"{row['with_match']:>8.0%} {base or 0:>12.1f} {ratio:>7}",
            flush=True,
        )


if __name__ == "__main__":
    main()
