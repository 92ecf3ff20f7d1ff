"""bench/load.py on a tiny workload (SQLite only), so the load benchmark cannot rot: it
runs `chorus run` and the naive pipeline for real, prints one JSON object with the
figures the issue names, and what the store holds matches the traffic sent."""

from __future__ import annotations

import json
import subprocess
import sys

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
    assert chorus["stored"] == chorus["expected"]  # every vote and idea landed
    assert sqlite["naive"]["statuses"] == {"200": 24}
    (offered,) = sqlite["chorus_open_loop"]["1"]
    assert offered["offered_per_s"] == 20 and offered["messages"] == 10
