"""Item 6's headline: one large day (default 20M events) through the whole pipeline in one
process with the DuckDB memory limit set; peak RSS of that process."""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks import data
from benchmarks.measure import run_task


def run(root: Path, events: int, memory_limit: str, log=print) -> dict:
    shutil.rmtree(root, ignore_errors=True)
    settings = data.bench_settings(root)
    day = data.day_of(0)
    data.write_landing_day(settings, day, events)
    env = data.bench_env(root, memory_limit)
    result = run_task("pipeline", {"first": str(day), "last": str(day), "assets": "both"}, env)
    log(f"  one day of {events:,} events: steps {result['steps']} , "
        f"process {result['process_s']} s, peak RSS {result['peak_rss_mb']} MB")
    shutil.rmtree(root, ignore_errors=True)
    return {"events": events, "memory_limit": memory_limit, "steps_s": result["steps"],
            "process_s": result["process_s"], "peak_rss_mb": result["peak_rss_mb"],
            "load_avg_1m": result["load_avg_1m"]}
