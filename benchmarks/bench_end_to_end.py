"""Part 7, end to end: `city-usage materialize` (the real CLI, in its own process, on a fresh
data folder) against the naive polars script (`naive_polars.py`) and a plain DuckDB
Parquet-to-Parquet copy, on the same landed files: `days` days of random-id events with ~1%
identical copies of the previous day's rows landed again the next day."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from benchmarks import checks, data
from benchmarks.measure import run_process, run_task

DAYS = 10
# The assets a user's script replaces: curated events (with quarantine) and daily summaries.
SELECT = "group:usage"
CLI_MAIN = "from pipelines.cli import main; main()"  # what the `city-usage` script runs


def _cli(args: list[str], env: dict[str, str]) -> dict:
    """Run the real CLI; wall time from spawn to exit and the child's own peak RSS."""
    done = run_process([sys.executable, "-c", CLI_MAIN, *args], env)
    if done["returncode"] != 0:
        raise RuntimeError(f"city-usage {' '.join(args)} failed: "
                           f"{done['stderr'].strip() or done['stdout'].strip()}")
    return {key: done[key] for key in ("wall_s", "peak_rss_mb", "cpu_s", "load_avg_1m")} | {
        "output": done["stdout"].strip().splitlines()}


def run(root: Path, events_per_day: int, memory_limit: str, days: int = DAYS,
        log=print) -> dict:
    settings, day_list = data.fresh_root(root, days)
    began = time.perf_counter()
    landed_rows = data.write_random_id_days(settings, day_list, events_per_day)
    log(f"  generated {landed_rows:,} landed rows over {days} days "
        f"in {time.perf_counter() - began:.1f} s")
    env = data.bench_env(root, memory_limit)
    landed = [str(p) for p in data.landing_files(settings, day_list)]

    cli = _cli(["materialize", "--select", SELECT], env)
    steps = run_task("dagster_steps", {}, env)["steps"]
    ingest_s = steps.get("build_usage_events", 0.0)
    log(f"  city-usage materialize: {cli['wall_s']} s, {cli['peak_rss_mb']} MB; steps {steps}")
    expected = checks.pipeline_totals(settings.warehouse)
    naive = run_task("naive_polars", {"files": landed,
                                      "warehouse": str(root / "naive.duckdb")})
    naive_same = checks.same_totals(expected, checks.pipeline_totals(root / "naive.duckdb"))
    log(f"  naive polars: {naive['process_s']} s, {naive['peak_rss_mb']} MB, "
        f"same totals: {naive_same}")
    copy = run_task("copy", {"files": landed, "target": str(root / "copy.parquet"),
                             "memory_limit": memory_limit})
    log(f"  duckdb copy: {copy['wall_s']} s, {copy['peak_rss_mb']} MB")
    shutil.rmtree(root, ignore_errors=True)
    return {
        "days": days, "events_per_day": events_per_day, "landed_rows": landed_rows,
        "materialize": {k: v for k, v in cli.items() if k != "output"}, "steps": steps,
        "naive_polars": {"process_s": naive["process_s"], "peak_rss_mb": naive["peak_rss_mb"],
                         "cpu_s": naive["cpu_s"], "load_avg_1m": naive["load_avg_1m"],
                         "same_totals": naive_same},
        "copy": {"wall_s": copy["wall_s"], "peak_rss_mb": copy["peak_rss_mb"],
                 "cpu_s": copy["cpu_s"], "load_avg_1m": copy["load_avg_1m"]},
        # Both processes are timed spawn to exit: imports and start-up count on both sides.
        "materialize_vs_polars": round(cli["wall_s"] / naive["process_s"], 2),
        # The same in CPU seconds of each process (start-up included on both sides).
        "materialize_vs_polars_cpu": round(cli["cpu_s"] / naive["cpu_s"], 2),
        "ingest_events_per_s": round(landed_rows / ingest_s) if ingest_s else None,
        "copy_events_per_s": round(landed_rows / copy["wall_s"]),
        "ingest_vs_copy": round(copy["wall_s"] / ingest_s, 3) if ingest_s else None,
    }
