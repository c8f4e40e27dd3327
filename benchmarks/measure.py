"""Launch benchmark processes (worker tasks, the real CLI) and measure them from outside."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def run_process(argv: list[str], env: dict[str, str] | None = None) -> dict:
    """Run `argv` in a fresh process from the project folder: wall seconds (spawn to exit),
    the child's own peak RSS and CPU seconds (os.wait4), the load average before it started,
    its exit code and output. Every benchmark process is launched here."""
    load = load_average()
    # Output goes to files, not pipes: a child writing more than a pipe holds never blocks,
    # and os.wait4 (which reaps it) can report its own rusage.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        began = time.perf_counter()
        child = subprocess.Popen(argv, cwd=PROJECT, env=env or dict(os.environ),
                                 stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - began
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    return {"wall_s": round(wall, 3), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 3), "load_avg_1m": load,
            "returncode": os.waitstatus_to_exitcode(status), "stdout": stdout,
            "stderr": stderr}


def run_task(task: str, args: dict, env: dict[str, str] | None = None) -> dict:
    """The task's JSON result plus `process_s` (spawn to exit) and the load average."""
    done = run_process(
        [sys.executable, "-m", "benchmarks.worker", task, json.dumps(args, default=str)], env)
    if done["returncode"] != 0:
        tail = (done["stderr"].strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{task} failed: {tail}")
    result = json.loads(done["stdout"].strip().splitlines()[-1])
    result["process_s"] = done["wall_s"]
    result["load_avg_1m"] = done["load_avg_1m"]
    return result
