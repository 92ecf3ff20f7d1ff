"""How soon the first idea after a restart is answered, with 100,000 ideas stored.

Before (as without warming): the question's alike index is built at the first idea's
look-up, inside the batch writer, so that idea (and every message behind it) waits for
the build. After: the open questions' indexes are built in a child process once the
server listens (handlers/likeness_warming.py); the first idea is answered at once, stored
without the offer, and ideas sent once the index is warm get the offer. Both in the same
run, on the same SQLite file; the models are loaded beforehand, so only the index counts.
Also: how fast ideas sent while the index warms are answered.

    .venv/bin/python -m bench.alike_warm --size 100000
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, insert, select

from bench.similar_capture import idea_texts, lookups
from bot.config import load_settings
from bot.services import Services, open_services
from handlers.types import Inbound, Outcome
from storage.contributions import NEXT_IDEA_NUMBER
from storage.database import Store
from storage.models import Checkpoint, Contribution, Participant

DURING = 15
REPO = Path(__file__).resolve().parent.parent
_message_ids = itertools.count(1)


async def seed_ideas(store: Store, question_id: int, texts: list[str]) -> None:
    """Store `texts` as visible ideas of one made-up person, in bulk inserts (seconds for
    100,000); the idea number counter then carries on after them."""
    now = datetime.now(UTC)
    async with store.transaction() as unit:
        session = unit.session
        person = await session.scalar(
            insert(Participant)
            .values(pseudonym="seed" * 16, channel="seed", created_at=now, last_seen_at=now)
            .returning(Participant.id)
        )
        highest = await session.scalar(select(Contribution.idea_number).order_by(
            Contribution.idea_number.desc().nulls_last()).limit(1))  # fmt: skip
        first = (highest or 0) + 1
        rows = [
            {
                "kind": "idea",
                "idea_number": first + n,
                "question_id": question_id,
                "participant_id": person,
                "text": text,
                "label": "neutral",
                "channel": "seed",
                "channel_message_id": f"seed-{question_id}-{first + n}",
                "created_at": now,
            }  # fmt: skip
            for n, text in enumerate(texts)
        ]
        for start in range(0, len(rows), 10_000):
            await session.execute(insert(Contribution), rows[start : start + 10_000])
        # Removed, the counter carries on after the highest number (storage/batch.py).
        await session.execute(delete(Checkpoint).where(Checkpoint.name == NEXT_IDEA_NUMBER))


async def send(services: Services, sender: str, text: str) -> Outcome:
    inbound = Inbound(
        channel="console",
        sender=sender,
        message_id=f"bench-{next(_message_ids)}",
        received_at=services.clock(),
        text=text,
        medium="terminal",
    )
    return await services.engine.handle(inbound)


def offered(outcome: Outcome) -> bool:
    return any(reply.key == "alike_ask" for reply in outcome.replies)


async def run(size: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="chorus-alike-warm-"))
    url = f"sqlite+aiosqlite:///{folder / 'chorus.db'}"
    secret = "bench-secret-0123456789abcdef"
    settings = load_settings(
        REPO / "config.yaml", {"CHORUS_DATABASE_URL": url, "CHORUS_SECRET": secret}
    )
    stored = idea_texts(size, seed=1)
    texts = iter(lookups(stored, 120, seed=2)[::3])  # rewordings of stored ideas
    services = await open_services(settings, warm_up=False)
    open_now = settings.consultation.open_questions(services.clock())
    question = services.engine.deps.question_ids[open_now[0].key]
    started = time.perf_counter()
    await seed_ideas(services.store, question, stored)
    print(f"{size:,} ideas stored in {time.perf_counter() - started:.1f} s")
    for sender in ("before", "after", "later"):  # consent and skip the gateway questions
        for text in ("START", "yes", "skip", "skip", "skip"):
            await send(services, sender, text)
    await services.close()

    # Before: no warming; the first look-up builds the index in the writer.
    services = await open_services(settings, warm_up=False)
    started = time.perf_counter()
    first = await send(services, "before", f"IDEA {next(texts)}")
    before = time.perf_counter() - started
    await services.close()

    # After: the indexes warm in the background, as `chorus run` starts them.
    services = await open_services(settings, warm_up=False)
    services.warm_alike = True
    started = time.perf_counter()
    services.start_warming()
    answered = await send(services, "after", f"IDEA {next(texts)}")
    after = time.perf_counter() - started
    warming_then = services.warming.warming
    assert services.alike_warming is not None
    during: list[float] = []  # more ideas while it warms (a person may send 20 an hour)
    while not services.alike_warming.done() and len(during) < DURING:
        sent = time.perf_counter()
        await send(services, "after", f"IDEA {next(texts)}")
        during.append(time.perf_counter() - sent)
    await services.alike_warming
    warm = time.perf_counter() - started
    later = await send(services, "later", f"IDEA {next(texts)}")
    later_time = time.perf_counter() - started - warm
    warm_times: list[float] = []  # the same number of ideas once it is warm, to compare
    for _ in during:
        sent = time.perf_counter()
        await send(services, "later", f"IDEA {next(texts)}")
        warm_times.append(time.perf_counter() - sent)
    await services.close()

    print(f"before: first idea answered {before:.2f} s after start (offer: {offered(first)})")
    print(f"after:  first idea answered {after:.2f} s after start (offer: {offered(answered)}; "
          f"warming then: {warming_then})")  # fmt: skip
    for what, times in (("while warming", during), ("once warm", warm_times)):
        if times:
            median, worst = statistics.median(times) * 1e3, max(times) * 1e3
            print(f"after:  {len(times)} more ideas answered {what}: median {median:.0f} ms, "
                  f"worst {worst:.0f} ms")  # fmt: skip
    print(f"after:  index warm {warm:.1f} s after start; the next idea answered in "
          f"{later_time * 1e3:.0f} ms (offer: {offered(later)})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(run(args.size))


if __name__ == "__main__":
    main()
