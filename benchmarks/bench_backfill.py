"""Item 4: 30 landed days built as one single-run backfill against 30 one-day runs."""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks import data
from benchmarks.measure import run_task

DAYS = 30


def run(root: Path, per_day: int, memory_limit: str, days: int = DAYS, log=print) -> dict:
    shutil.rmtree(root, ignore_errors=True)
    landing = data.bench_settings(root / "shared")
    for k in range(days):
        data.write_landing_day(landing, data.day_of(k), per_day)
    results = {}
    for mode in ("one_run", "per_day_runs"):
        env = data.bench_env(root / mode, memory_limit)
        env["CITY_USAGE_LANDING"] = str(landing.landing)
        args = {"first": str(data.day_of(0)), "last": str(data.day_of(days - 1)),
                "assets": "both", "each_day": mode == "per_day_runs"}
        result = run_task("pipeline", args, env)
        results[mode] = {"steps_s": round(sum(result["steps"].values()), 3),
                         "process_s": result["process_s"], "runs": result.get("runs", 1),
                         "peak_rss_mb": result["peak_rss_mb"],
                         "load_avg_1m": result["load_avg_1m"]}
        log(f"  {mode}: steps {results[mode]['steps_s']} s, process {result['process_s']} s")
    shutil.rmtree(root, ignore_errors=True)
    return {"days": days, "events_per_day": per_day, **results,
            "per_day_vs_one_run": round(results["per_day_runs"]["process_s"]
                                        / results["one_run"]["process_s"], 2)}
