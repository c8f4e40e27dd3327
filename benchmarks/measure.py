"""Run a worker task in a fresh subprocess and time the whole process from outside."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def run_task(task: str, args: dict, env: dict[str, str] | None = None) -> dict:
    """The task's JSON result plus `process_s` (spawn to exit) and the load average."""
    load = load_average()
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.worker", task, json.dumps(args, default=str)],
        cwd=PROJECT, env=env or dict(os.environ), capture_output=True, text=True,
    )
    process_s = time.perf_counter() - began
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{task} failed: {tail}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = round(process_s, 3)
    result["load_avg_1m"] = load
    return result
