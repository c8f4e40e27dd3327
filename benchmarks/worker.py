"""One measurement in a fresh process: `python -m benchmarks.worker TASK JSON_ARGS`.

Prints one JSON line: the task's result plus `wall_s` (inside the process, after imports) and
`peak_rss_mb` (this process's high-water mark, DuckDB included: it runs in-process).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import date


def _run(task: str, args: dict) -> dict:
    if task == "pipeline":
        from benchmarks.pipeline_task import materialize_range
        return materialize_range(date.fromisoformat(args["first"]),
                                 date.fromisoformat(args["last"]), args["assets"],
                                 args.get("each_day", False))
    if task == "build_daily":
        from benchmarks.compute_task import build_daily
        return build_daily(date.fromisoformat(args["first"]), date.fromisoformat(args["last"]))
    if task == "reads":
        from benchmarks.reads import time_reads
        return time_reads(date.fromisoformat(args["month"]), args["repeat"],
                          args["events_repeat"])
    if task in ("duckdb", "polars", "pandas"):
        import duckdb

        from benchmarks import baselines
        try:
            return baselines.RUNNERS[task](args["files"], args["memory_limit"])
        except duckdb.OutOfMemoryException as exc:  # a finding, not a crash of the run
            return {"error": f"out of memory at memory_limit {args['memory_limit']}: "
                             + str(exc).splitlines()[0]}
    if task == "copy":
        from benchmarks.baselines import duckdb_copy
        return duckdb_copy(args["files"], args["target"], args["memory_limit"])
    if task == "naive_polars":
        from benchmarks.naive_polars import naive_materialize
        return naive_materialize(args["files"], args["warehouse"])
    if task == "big_run":
        from pathlib import Path

        from benchmarks.bench_big_run import scan_and_build
        return scan_and_build(Path(args["root"]), args["memory_limit"])
    if task == "dagster_steps":
        from benchmarks.pipeline_task import all_step_seconds
        return all_step_seconds()
    raise SystemExit(f"unknown task {task}")


def main() -> None:
    task, raw = sys.argv[1], sys.argv[2]
    began = time.perf_counter()
    result = _run(task, json.loads(raw))
    result["wall_s"] = round(time.perf_counter() - began, 3)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    # CPU seconds (user + system, every thread): less sensitive than wall time to other jobs.
    result["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 3)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
