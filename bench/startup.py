"""How soon `chorus run` answers `/healthz`, and how soon it has finished warming.

Starts `chorus run` several times, each in a fresh folder with a fresh SQLite store and
the repository's config.yaml (the `make run` default), and polls `/healthz` every 20 ms:
the wall time and the process's CPU time until the first 200, and until `warming` is
empty (the models loaded in the background). The baseline, measured in the same run: a
bare aiohttp server in a new Python process, to its first answer — what any Python web
service pays to start on this machine. The target (issue 12) is `/healthz` within 2 s.

    .venv/bin/python bench/startup.py              # 5 starts of each
    .venv/bin/python bench/startup.py --runs 10 --json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
POLL_SECONDS = 0.02
GIVE_UP_SECONDS = 120.0
BARE_SERVER = """
import sys
from aiohttp import web
async def ok(_request):
    return web.json_response({"status": "ok"})
app = web.Application()
app.router.add_get("/healthz", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def poll(url: str) -> dict | None:
    """The /healthz document, or None while nothing answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return json.load(response) if response.status == 200 else None
    except (OSError, urllib.error.URLError, ValueError):
        return None


def cpu_seconds(process: psutil.Process) -> float:
    """CPU of the process and its children (the enrichment worker)."""
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        try:
            times = each.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def one_start(command: list[str], workdir: Path, port: int, env: dict[str, str]) -> dict:
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    watched = psutil.Process(process.pid)
    url = f"http://127.0.0.1:{port}/healthz"
    answered = warm = None
    cpu_answered = cpu_warm = 0.0
    try:
        while time.perf_counter() - started < GIVE_UP_SECONDS:
            if process.poll() is not None:
                raise SystemExit(f"{' '.join(command)} exited:\n{process.stderr.read().decode()}")
            health = poll(url)
            now = time.perf_counter() - started
            if health is not None and answered is None:
                answered, cpu_answered = now, cpu_seconds(watched)
            if health is not None and not health.get("warming"):
                warm, cpu_warm = now, cpu_seconds(watched)
                break
            time.sleep(POLL_SECONDS)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()
    if answered is None:
        raise SystemExit(f"/healthz never answered within {GIVE_UP_SECONDS:.0f} s")
    return {
        "healthz_s": round(answered, 3),
        "healthz_cpu_s": round(cpu_answered, 3),
        "warm_s": round(warm, 3) if warm is not None else None,
        "warm_cpu_s": round(cpu_warm, 3) if warm is not None else None,
    }


def chorus_env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TWILIO_", "TELEGRAM_", "X_", "CHORUS_", "WHATSAPP_"))
    }
    env["PYTHONPATH"] = str(REPO)
    return env


def summary(runs: list[dict], key: str) -> dict:
    values = [run[key] for run in runs if run.get(key) is not None]
    if not values:
        return {"median": None, "max": None}
    return {"median": round(statistics.median(values), 3), "max": round(max(values), 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="starts of each server")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    chorus_runs, bare_runs = [], []
    for _ in range(args.runs):  # interleaved, so both see the same machine
        with tempfile.TemporaryDirectory(prefix="chorus-startup-") as tmp:
            workdir = Path(tmp)
            (workdir / "config.yaml").write_text(
                (REPO / "config.yaml").read_text(encoding="utf-8"), encoding="utf-8"
            )
            port = free_port()
            command = [sys.executable, "-m", "bot", "run", "--port", str(port)]
            chorus_runs.append(one_start(command, workdir, port, chorus_env()))
            port = free_port()
            command = [sys.executable, "-c", BARE_SERVER, str(port)]
            bare_runs.append(one_start(command, workdir, port, chorus_env()))
    result = {
        "runs": args.runs,
        "chorus_healthz_s": summary(chorus_runs, "healthz_s"),
        "chorus_healthz_cpu_s": summary(chorus_runs, "healthz_cpu_s"),
        "chorus_warm_s": summary(chorus_runs, "warm_s"),
        "chorus_warm_cpu_s": summary(chorus_runs, "warm_cpu_s"),
        "bare_aiohttp_s": summary(bare_runs, "healthz_s"),
        "bare_aiohttp_cpu_s": summary(bare_runs, "healthz_cpu_s"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.runs} starts each; {result['machine']['cpus']} CPUs, Python "
          f"{result['machine']['python']}")  # fmt: skip
    print(f"{'':32}{'median s':>10}{'max s':>9}")
    for label, key in (
        ("chorus run: /healthz 200", "chorus_healthz_s"),
        ("  CPU until then", "chorus_healthz_cpu_s"),
        ("chorus run: warming done", "chorus_warm_s"),
        ("  CPU until then", "chorus_warm_cpu_s"),
        ("bare aiohttp: first answer", "bare_aiohttp_s"),
        ("  CPU until then", "bare_aiohttp_cpu_s"),
    ):
        figures = result[key]
        print(f"{label:32}{figures['median']!s:>10}{figures['max']!s:>9}")
    ratio = result["chorus_healthz_s"]["median"] / max(result["bare_aiohttp_s"]["median"], 1e-9)
    print(f"chorus /healthz / bare aiohttp: {ratio:.1f}x; target: /healthz within 2 s")


if __name__ == "__main__":
    main()
