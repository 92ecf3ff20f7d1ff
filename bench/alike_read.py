"""How fast the conversation's ("alike", question, text) read answers at 100,000 ideas.

The read the engine makes before storing an idea (handlers/likeness_cache.py): bring the
question's index up to date from the store (one query for ideas newer than the last
look-up), search it, and read each idea found to check it may still be offered. The store
here is an in-memory stand-in answering those two queries, so the figures are the
cache's own cost; the baseline, measured in the same run, is the index's `find` alone
(bench/similar_capture.py measures that against the similar-ideas job's method).
Between look-ups one new idea is stored, so each look-up also adds one idea to the index.

    .venv/bin/python -m bench.alike_read --size 100000 --lookups 100
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

from bench.similar_capture import THRESHOLD, idea_texts, lookups
from handlers.likeness_cache import LikenessCache


@dataclass
class Idea:
    id: int
    text: str
    participant_id: int = 0
    kind: str = "idea"
    status: str = "visible"
    duplicate_of: int | None = None


class MemoryReader:
    def __init__(self, texts: list[str]) -> None:
        self.ideas = {n: Idea(n, text) for n, text in enumerate(texts, 1)}

    def ideas_of_question(
        self, question_id: int, after_id: int, limit: int = 50_000
    ) -> list[tuple[int, str]]:
        return [(i, idea.text) for i, idea in self.ideas.items() if i > after_id][:limit]

    def contribution(self, contribution_id: int) -> Idea | None:
        return self.ideas.get(contribution_id)

    def add(self, text: str) -> None:
        self.ideas[len(self.ideas) + 1] = Idea(len(self.ideas) + 1, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=100)
    args = parser.parse_args()
    stored = idea_texts(args.size, seed=1)
    reader = MemoryReader(stored)
    cache = LikenessCache(THRESHOLD)
    started = time.perf_counter()
    cache.refresh(reader, 1)
    print(f"{args.size:,} ideas: first look-up builds the index in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    texts = lookups(stored, args.lookups, seed=2)
    index = cache.refresh(reader, 1)
    base_wall, base_cpu = [], []
    for text in texts:
        wall, cpu = time.perf_counter(), time.process_time()
        index.find(text, 9)
        base_wall.append(time.perf_counter() - wall)
        base_cpu.append(time.process_time() - cpu)
    walls, cpus, offered = [], [], 0
    for text in texts:
        reader.add(text + " too")  # one idea stored since the last look-up
        wall, cpu = time.perf_counter(), time.process_time()
        offered += len(cache.alike(reader, 1, text))
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)

    def ms(values: list[float]) -> str:
        ordered = sorted(values)
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        return f"median {statistics.median(values) * 1e3:.1f} ms, p95 {p95 * 1e3:.1f} ms, " \
               f"worst {max(values) * 1e3:.1f} ms"  # fmt: skip

    print(f"alike read: {ms(walls)}; CPU {statistics.mean(cpus) * 1e3:.1f} ms per look-up")
    print(f"index find alone (baseline): {ms(base_wall)}; "
          f"CPU {statistics.mean(base_cpu) * 1e3:.1f} ms per look-up")  # fmt: skip
    print(f"ratio (read / find): {statistics.median(walls) / statistics.median(base_wall):.2f}; "
          f"ideas offered per look-up: {offered / len(texts):.2f}; target 50 ms")  # fmt: skip


if __name__ == "__main__":
    main()
