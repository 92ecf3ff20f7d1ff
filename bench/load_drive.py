"""The load benchmark's drivers (bench/load.py): send the traffic to the servers in a
closed loop (so many people at once, each waiting for its answer) or an open loop (at a
fixed offered rate, whatever the answers), and what a run saw: latencies, statuses, time."""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
from load_traffic import Person, Requests

GIVE_UP_SECONDS = 15.0  # Twilio stops waiting for a webhook's answer after 15 s


@dataclass
class Run:
    """What one run of traffic against one server saw."""

    latencies: list[float] = field(default_factory=list)
    by_step: dict[int, list[float]] = field(default_factory=dict)  # open loop: each step's
    statuses: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_bytes: int = 0

    @property
    def messages(self) -> int:
        return sum(self.statuses.values())

    @property
    def errors(self) -> int:
        return self.messages - self.statuses.get("200", 0)

    def figures(self) -> dict[str, float | int | dict]:
        cuts = (
            statistics.quantiles(self.latencies, n=100, method="inclusive")
            if len(self.latencies) > 1
            else [self.latencies[0] if self.latencies else 0.0] * 99
        )
        answered = self.statuses.get("200", 0)
        return {
            "messages": self.messages,
            "seconds": round(self.elapsed, 3),
            "msgs_per_s": round(answered / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": round(cuts[49] * 1000, 1),
            "p95_ms": round(cuts[94] * 1000, 1),
            "p99_ms": round(cuts[98] * 1000, 1),
            "cpu_ms_per_msg": round(self.cpu_seconds * 1000 / max(self.messages, 1), 3),
            "peak_rss_mb": round(self.peak_rss_bytes / 2**20, 1),
            "errors": self.errors,
            "statuses": dict(sorted(self.statuses.items())),
            **({"p50_ms_by_step": self.step_medians_ms()} if self.by_step else {}),
        }

    def step_medians_ms(self) -> list[float]:
        return [
            round(statistics.median(self.by_step[step]) * 1000, 1) for step in sorted(self.by_step)
        ]


async def send(
    http: aiohttp.ClientSession, url: str, request: tuple[str, bytes, dict[str, str]]
) -> str:
    path, body, headers = request
    try:
        async with http.post(url + path, data=body, headers=headers) as response:
            await response.read()
            return str(response.status)
    except TimeoutError:
        return "timeout"
    except aiohttp.ClientError as error:
        return type(error).__name__


def client(limit: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit),
        timeout=aiohttp.ClientTimeout(total=GIVE_UP_SECONDS),
    )


async def closed_loop(
    urls: Sequence[str],
    crowd: Sequence[Person],
    requests: Requests,
    in_flight: int,
    *,
    resend: bool = False,
) -> Run:
    """`in_flight` people at a time, each sending its next message once answered; one
    person's messages alternate between the servers in `urls`. With `resend`, a 503 is
    sent again (the same message, as a provider retries) up to five times."""
    run = Run()
    waiting = list(enumerate(crowd))
    waiting.reverse()

    async def sender(http: aiohttp.ClientSession) -> None:
        while waiting:
            number, person = waiting.pop()
            for step, text in enumerate(person.texts):
                url = urls[(number + step) % len(urls)]
                started = time.perf_counter()
                message = requests.build(person, text)
                status = await send(http, url, message)
                for _ in range(5 if resend else 0):
                    if status != "503":
                        break
                    status = await send(http, url, message)
                run.latencies.append(time.perf_counter() - started)
                run.statuses[status] += 1

    async with client(in_flight) as http:
        started = time.perf_counter()
        await asyncio.gather(*(sender(http) for _ in range(in_flight)))
        run.elapsed = time.perf_counter() - started
    return run


ARRIVALS = ("lockstep", "interleaved")


def slot(arrivals: str, number: int, step: int, people: int, journey: int) -> int:
    """Which of the open loop's evenly spaced slots carries message `step` of person
    `number`: "lockstep", every person's message k before anyone's k + 1, so each step of
    the journey comes as one burst (all the ideas at once); "interleaved", person q's
    step j in slot (q + j) * journey + j, so every step of the journey is in flight at
    once in its share of the mix and a person's next message comes journey + 1 slots
    after their last (the first few slots, before every step has started, stay empty)."""
    if arrivals == "lockstep":
        return step * people + number
    if arrivals == "interleaved":
        return (number + step) * journey + step
    raise ValueError(f"arrivals: one of {', '.join(ARRIVALS)}, not {arrivals!r}")


def people_needed(arrivals: str, total: int, journey: int) -> int:
    """People enough to fill `total` slots (interleaved: the last slots need people who
    start late and never finish)."""
    base = math.ceil(total / journey)
    return base + journey if arrivals == "interleaved" else base


async def open_loop(
    urls: Sequence[str],
    crowd: Sequence[Person],
    requests: Requests,
    rate: float,
    total: int,
    arrivals: str = "lockstep",
) -> Run:
    """`total` slots offered at `rate` a second whatever the answers: slot k is due at
    k / rate, and carries one message of one person (`slot`); a person whose previous
    message is still unanswered sends late, and the latency counts from when it was due.
    Messages more than 15 s overdue are not sent and count as errors ("unsent")."""
    run = Run()
    count = len(crowd)

    async def person_sends(http: aiohttp.ClientSession, number: int, person: Person) -> None:
        journey = len(person.texts)
        for step, text in enumerate(person.texts):
            index = slot(arrivals, number, step, count, journey)
            if index >= total:
                return
            due = begin + index / rate
            if time.perf_counter() > due + GIVE_UP_SECONDS:
                # Fallen so far behind that this person would have given up: what is left
                # of the journey counts as unsent, and the run ends in bounded time.
                unsent = sum(
                    1
                    for k in range(step, journey)
                    if slot(arrivals, number, k, count, journey) < total
                )
                run.statuses["unsent"] += unsent
                return
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            status = await send(
                http, urls[(number + step) % len(urls)], requests.build(person, text)
            )
            run.latencies.append(time.perf_counter() - due)
            run.by_step.setdefault(step, []).append(run.latencies[-1])
            run.statuses[status] += 1

    async with client(0) as http:
        begin = time.perf_counter() + 0.05
        await asyncio.gather(*(person_sends(http, n, p) for n, p in enumerate(crowd)))
        run.elapsed = time.perf_counter() - begin
    return run
