"""Profile ingestion without Dagster: `python -m benchmarks.profile_ingest [--per-day N]`.

Lands `--days` days of random-id events (as the end-to-end part does), then runs the scan and
the build of every day under pyinstrument and prints where the time goes, with the two
phases' wall times. The HTML profile is written to `--html` when given.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from pyinstrument import Profiler

from benchmarks import data
from usage_model.usage import ingest
from usage_model.warehouse import ensure_schema


def _cpu() -> float:
    """CPU seconds of this process so far, DuckDB's threads included (the scan's worker
    processes report theirs: ScanResult.worker_cpu_seconds)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class TimedConnection:
    """A DuckDB connection that adds up the CPU time of each statement (caller and first
    words): on a shared machine CPU seconds say more than wall time."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self._conn = conn
        self.seconds: dict[str, float] = {}

    def execute(self, sql: str, *args, **kwargs):
        began = _cpu()
        try:
            return self._conn.execute(sql, *args, **kwargs)
        finally:
            text = " ".join(line.strip() for line in sql.strip().splitlines()
                            if not line.strip().startswith("--"))
            key = f"{sys._getframe(1).f_code.co_name}: {text[:55]}"
            self.seconds[key] = self.seconds.get(key, 0.0) + _cpu() - began

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--html", type=Path)
    parser.add_argument("--root", type=Path,
                        default=Path(tempfile.gettempdir()) / "city-usage-profile")
    args = parser.parse_args()
    shutil.rmtree(args.root, ignore_errors=True)
    settings = data.bench_settings(args.root)
    days = [data.day_of(k) for k in range(args.days)]
    rows = data.write_random_id_days(settings, days, args.per_day)
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(settings.warehouse),
                          config={"memory_limit": "1GB", "threads": 2})
    ensure_schema(conn)
    conn = TimedConnection(conn)
    profiler = Profiler(interval=0.005)
    profiler.start()
    began, cpu_began = time.perf_counter(), _cpu()
    scan = ingest.scan_landing(conn, settings)
    scanned, cpu_scanned = time.perf_counter(), _cpu()
    build = ingest.build_days(conn, settings, days)
    built, cpu_built = time.perf_counter(), _cpu()
    profiler.stop()
    conn.close()
    print(f"{rows:,} landed rows: scan {scanned - began:.2f} s, build {built - scanned:.2f} s "
          f"({build.accepted:,} accepted, {build.identical_duplicates:,} identical, "
          f"{scan.rows_invalid:,} invalid); {rows / (built - began):,.0f} events/s")
    print(profiler.output_text(unicode=False, color=False, show_all=False))
    workers = scan.worker_cpu_seconds
    print(f"CPU: scan {cpu_scanned - cpu_began + workers:.2f} s "
          f"(scan worker processes: {workers:.2f} s), build {cpu_built - cpu_scanned:.2f} s")
    print("DuckDB statements (CPU seconds, summed):")
    for key, seconds in sorted(conn.seconds.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  {seconds:7.2f}  {key}")
    if args.html:
        args.html.write_text(profiler.output_html())
    shutil.rmtree(args.root, ignore_errors=True)


if __name__ == "__main__":
    main()
