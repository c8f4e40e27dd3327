"""Items 3 and 5: the cost of adding day N+1 with 1, 30 and 90 days of history (landing a
new day's files, then one run of that day), then `summary` read latency on the warehouse the
pipeline built, from the pre-aggregates against raw events."""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

from benchmarks import data, reads
from benchmarks.measure import run_task

HISTORIES = (1, 30, 90)
REPEATS = 3  # new days added at each history length (median reported)


def _land(settings, first: int, last: int, per_day: int) -> None:
    for k in range(first, last + 1):
        data.write_landing_day(settings, data.day_of(k), per_day)


def _materialize(env: dict, first: int, last: int) -> dict:
    window = {"first": str(data.day_of(first)), "last": str(data.day_of(last))}
    return run_task("pipeline", {**window, "assets": "both"}, env)


def run(root: Path, per_day: int, memory_limit: str, log=print) -> dict:
    shutil.rmtree(root, ignore_errors=True)
    settings = data.bench_settings(root)
    env = data.bench_env(root, memory_limit)
    built = 0  # days 0..built-1 are landed and materialized
    points = []
    for history in HISTORIES:
        if history > built:
            _land(settings, built, history - 1, per_day)
            _materialize(env, built, history - 1)
            built = history
        adds = []
        for _ in range(REPEATS):
            _land(settings, built, built, per_day)
            adds.append(_materialize(env, built, built))
            built += 1
        point = {
            "history_days": history,
            "events_step_s": statistics.median(a["steps"]["build_usage_events"] for a in adds),
            "summaries_step_s": statistics.median(a["steps"]["build_daily_summaries"]
                                                  for a in adds),
            "process_s": statistics.median(a["process_s"] for a in adds),
            "peak_rss_mb": max(a["peak_rss_mb"] for a in adds),
            "load_avg_1m": [a["load_avg_1m"] for a in adds],
        }
        point["steps_s"] = round(point["events_step_s"] + point["summaries_step_s"], 3)
        points.append(point)
        log(f"  add a day with {history} days of history (then {built} days): steps "
            f"{point['steps_s']} s, process {point['process_s']} s, {point['peak_rss_mb']} MB")
    first, last = points[0]["steps_s"], points[-1]["steps_s"]
    read = reads.run(root, env, built)
    log(f"  summary reads: pre-aggregates p50 {read['preaggregate_ms']['p50']} ms / p95 "
        f"{read['preaggregate_ms']['p95']} ms; events p50 {read['events_ms']['p50']} ms")
    shutil.rmtree(root, ignore_errors=True)
    return {
        "events_per_day": per_day, "points": points,
        "growth_1_to_90": round(last / first - 1, 3),
        "reads": read,
    }
