"""Items 1, 2 and 6 at one scale: ingestion and summary compute of the real pipeline against
the hand-written alternatives, on the same files, each in its own process with peak RSS."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from benchmarks import checks, data
from benchmarks.measure import run_task

DAYS = 5
BASELINES = ("duckdb", "polars", "pandas")


def run(root: Path, events: int, memory_limit: str, days: int = DAYS,
        log=print) -> dict:
    settings, day_list = data.fresh_root(root, days)
    began = time.perf_counter()
    for k, day in enumerate(day_list):
        data.write_landing_day(settings, day, events // days + (k < events % days))
    generate_s = round(time.perf_counter() - began, 1)
    log(f"  generated {events:,} events over {days} days in {generate_s} s")
    env = data.bench_env(root, memory_limit)
    landed = [str(p) for p in data.landing_files(settings, day_list)]
    window = {"first": str(day_list[0]), "last": str(day_list[-1])}

    ingest = run_task("pipeline", {**window, "assets": "events"}, env)
    log(f"  pipeline ingest: step {ingest['steps']['build_usage_events']} s, "
        f"process {ingest['process_s']} s, {ingest['peak_rss_mb']} MB")
    copy = run_task("copy", {"files": landed, "target": str(root / "copy.parquet"),
                             "memory_limit": memory_limit})
    log(f"  duckdb copy: {copy['wall_s']} s, {copy['peak_rss_mb']} MB")
    summary = run_task("pipeline", {**window, "assets": "summaries"}, env)
    log(f"  pipeline summaries: step {summary['steps']['build_daily_summaries']} s, "
        f"process {summary['process_s']} s, {summary['peak_rss_mb']} MB")
    compute = run_task("build_daily", window, env)
    log(f"  pipeline summary compute alone (build_daily): {compute['compute_s']} s")
    expected = checks.pipeline_totals(settings.warehouse)
    curated = [str(p) for p in data.curated_files(settings, day_list)]
    baselines = {}
    for name in BASELINES:
        result = run_task(name, {"files": curated, "memory_limit": memory_limit})
        if "totals" in result:
            result["same_totals"] = checks.same_totals(expected, result.pop("totals"))
        baselines[name] = result
        log(f"  {name}: {result['wall_s']} s, {result['peak_rss_mb']} MB, "
            f"same totals: {result.get('same_totals')} {result.get('error', '')}")
    step_ingest = ingest["steps"]["build_usage_events"]
    step_summary = summary["steps"]["build_daily_summaries"]
    # A baseline that failed (DuckDB out of memory under the same limit) is not a floor.
    finished = [n for n in ("duckdb", "polars") if "error" not in baselines[n]]
    fastest = min(finished, key=lambda n: baselines[n]["wall_s"])
    data_bytes = sum(p.stat().st_size for p in map(Path, landed))
    shutil.rmtree(root, ignore_errors=True)
    return {
        "events": events, "days": days, "generate_s": generate_s, "landing_bytes": data_bytes,
        "ingest": {
            "pipeline_step_s": step_ingest, "pipeline_process_s": ingest["process_s"],
            "pipeline_peak_rss_mb": ingest["peak_rss_mb"],
            "pipeline_events_per_s": round(events / step_ingest),
            "copy_s": copy["wall_s"], "copy_peak_rss_mb": copy["peak_rss_mb"],
            "copy_events_per_s": round(events / copy["wall_s"]),
            "step_vs_copy": round(step_ingest / copy["wall_s"], 2),
            "load_avg_1m": ingest["load_avg_1m"],
        },
        "summaries": {
            "pipeline_step_s": step_summary, "pipeline_process_s": summary["process_s"],
            "pipeline_peak_rss_mb": summary["peak_rss_mb"],
            "compute_only_s": compute["compute_s"],
            "compute_vs_fastest": round(compute["compute_s"] / baselines[fastest]["wall_s"], 2),
            "baselines": baselines, "fastest_hand_written": fastest,
            "step_vs_fastest": round(step_summary / baselines[fastest]["wall_s"], 2),
            "step_vs_pandas": round(step_summary / baselines["pandas"]["wall_s"], 3),
            "pandas_vs_step": round(baselines["pandas"]["wall_s"] / step_summary, 1),
            "all_equal": all(b["same_totals"] for b in baselines.values() if "error" not in b),
            "load_avg_1m": summary["load_avg_1m"],
        },
    }
