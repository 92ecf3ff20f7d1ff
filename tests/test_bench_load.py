"""bench/load.py on a tiny workload (SQLite only), so the load benchmark cannot rot: it
runs `chorus run` and the naive pipeline for real, prints one JSON object with the
figures the issue names, and what the store holds matches the traffic sent."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import subprocess
import sys

import pytest
from aiohttp import web

from tests.conftest import REPO

KEYS = {
    "chorus_msgs_per_s",
    "naive_msgs_per_s",
    "bare_rows_per_s",
    "ratio_to_naive",
    "p99_ms",
    "cpu_ms_per_msg",
}


def test_the_load_benchmark_prints_its_figures_as_json() -> None:
    command = [
        sys.executable, str(REPO / "bench" / "load.py"), "--backends", "sqlite",
        "--messages", "24", "--in-flight", "2", "--telegram-share", "0.5",
        "--rate", "20", "--seconds", "0.5", "--json",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result.keys() >= KEYS
    assert result["chorus_msgs_per_s"] > 0 and result["naive_msgs_per_s"] > 0
    assert result["bare_rows_per_s"] > 0 and result["cpu_ms_per_msg"] > 0
    assert result["errors"] == 0
    sqlite = result["backends"]["sqlite"]
    chorus = sqlite["chorus"]["1"]
    assert chorus["messages"] == 24 and chorus["statuses"] == {"200": 24}
    stored, expected = chorus["stored"], chorus["expected"]
    assert stored["participants"] == expected["participants"]
    assert stored["votes"] == expected["votes"]  # every vote landed
    # Every idea landed: none of the bench's unrelated ideas is offered as "like" another,
    # and one that were would be kept when its sender moves on with VOTE.
    assert stored["ideas"] == expected["ideas"]
    assert sqlite["naive"]["statuses"] == {"200": 24}
    # Telegram's people were answered: the replies sent in the timed window and after it
    # (held back by Telegram's rate limit) are counted, all of them sent before the end.
    replies = chorus["telegram_replies"]
    assert replies["in_window"] + replies["after_window"] >= 12  # 12 of the 24 on Telegram
    (offered,) = sqlite["chorus_open_loop"]["1"]
    assert offered["offered_per_s"] == 20 and offered["messages"] == 10
    # One person's first ten messages: a median for each step of the journey.
    assert len(offered["p50_ms_by_step"]) == 10 and min(offered["p50_ms_by_step"]) > 0


def load_module(monkeypatch: pytest.MonkeyPatch):
    """bench/load.py as a module (bench/ is scripts, not a package): its siblings are
    imported by name, as when it is run, so bench/ is on the path."""
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    spec = importlib.util.spec_from_file_location("bench_load", REPO / "bench" / "load.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_load", module)
    spec.loader.exec_module(module)
    return module


async def test_the_open_loop_ends_when_a_server_stops_answering(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that never answers: each request gives up, and a person who has fallen
    more than the give-up time behind sends nothing more, so the run ends."""
    load = load_module(monkeypatch)
    drive = importlib.import_module("load_drive")  # bench/load_drive.py, where it is used
    assert load.open_loop is drive.open_loop
    monkeypatch.setattr(drive, "GIVE_UP_SECONDS", 0.3)
    never = asyncio.Event()

    async def hold(_request: web.Request) -> web.Response:
        await never.wait()
        return web.Response()

    app = web.Application()
    app.router.add_post("/webhooks/{channel}", hold)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        crowd = load.people(2, 1234, 0.5)
        run = await load.open_loop([url], crowd, load.Requests("token", "secret"), 100, 24)
    finally:
        never.set()
        await runner.cleanup()
    assert run.messages == 24 and run.errors == 24
    assert set(run.statuses) <= {"timeout", "unsent"} and run.statuses["unsent"] > 0
    assert run.elapsed < 5


@pytest.mark.parametrize("arrivals", ["lockstep", "interleaved"])
def test_open_loop_slots_each_carry_one_message_in_journey_order(
    monkeypatch: pytest.MonkeyPatch, arrivals: str
) -> None:
    """Every slot before the total carries exactly one message, each person's messages go
    in their journey's order, and interleaved arrivals have every step in every stretch of
    the run (lockstep sends each step as one burst)."""
    load_module(monkeypatch)
    drive = importlib.import_module("load_drive")
    journey, total = 12, 1200
    crowd = drive.people_needed(arrivals, total, journey)
    slots = {
        (person, step): drive.slot(arrivals, person, step, crowd, journey)
        for person in range(crowd)
        for step in range(journey)
    }
    used = sorted(s for s in slots.values() if s < total)
    assert len(used) == len(set(used))
    assert len(used) >= total - journey * journey  # at most the ramp's slots empty
    for person in range(crowd):
        order = [slots[person, step] for step in range(journey)]
        assert order == sorted(order)
    step_of = {s: step for (_person, step), s in slots.items()}
    window = [step_of[s] for s in range(600, 720) if s in step_of]
    if arrivals == "interleaved":
        assert sorted(set(window)) == list(range(journey))  # the whole mix at once
        assert min(window.count(k) for k in range(journey)) == len(window) // journey
    else:
        assert len(set(window)) <= 2  # one step's burst (or the turn to the next)
    with pytest.raises(ValueError, match="arrivals"):
        drive.slot("random", 0, 0, crowd, journey)


def test_several_rounds_report_the_median_of_each_headline_figure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--rounds N: the headline figures are the medians over the rounds (a noisy machine
    moves one run's CPU by tens of percent); errors add up; every round is kept."""
    load = load_module(monkeypatch)

    def one_round(cpu: float, postgres_cpu: float, errors: int) -> dict:
        figures = {key: 1.0 for key in load.HEADLINE}
        figures.update(
            cpu_ms_per_msg=cpu, postgresql_to_sqlite_cpu=postgres_cpu / cpu, errors=errors
        )
        return {**figures, "backends": {"sqlite": {"round": cpu}}, "settings": {}}

    rounds = [one_round(1.0, 1.6, 0), one_round(1.4, 1.8, 1), one_round(1.1, 1.5, 0)]
    result = load.combined(rounds)
    assert result["cpu_ms_per_msg"] == 1.1
    assert result["postgresql_to_sqlite_cpu"] == round(sorted([1.6, 1.8 / 1.4, 1.5 / 1.1])[1], 3)
    assert result["errors"] == 1
    assert [r["cpu_ms_per_msg"] for r in result["rounds"]] == [1.0, 1.4, 1.1]
    assert result["backends"] == {"sqlite": {"round": 1.0}}  # the first round's details
    assert load.combined(rounds[:1]) == rounds[0]  # one round: as before
