"""Issue 11's scale target: 100M events (10 days × 10M random ids) landed at once, then the
scan and the build of every day in one run, in a fresh process with the DuckDB memory limit
set. Reports wall and CPU seconds, the process's peak RSS and the largest DuckDB spill folder
(`<warehouse>.tmp`) and curated folder (events, scanned rows, id index and the build's staging)
seen while it ran (sampled every second)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import duckdb

from benchmarks import data
from benchmarks.measure import run_task

DAYS = 10
SAMPLE_SECONDS = 1.0


def _size(folder: Path) -> int:
    """Bytes under `folder` (0 when absent; files vanishing while listed are skipped)."""
    total = 0
    for parent, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.stat(os.path.join(parent, name)).st_size
            except FileNotFoundError:
                continue
    return total


class _Watch(threading.Thread):
    """The largest size each folder reached, and the least free disk, while a run goes on."""

    def __init__(self, folders: dict[str, Path], disk: Path) -> None:
        super().__init__(daemon=True)
        self.folders, self.disk = folders, disk
        self.largest = dict.fromkeys(folders, 0)
        self.least_free = shutil.disk_usage(disk).free
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(SAMPLE_SECONDS):
            for key, folder in self.folders.items():
                self.largest[key] = max(self.largest[key], _size(folder))
            self.least_free = min(self.least_free, shutil.disk_usage(self.disk).free)

    def stop(self) -> None:
        self._done.set()
        self.join()


def scan_and_build(root: Path, memory_limit: str) -> dict:
    """In the measured process: scan every landed file, then build every landed day."""
    from usage_model.usage import ingest
    from usage_model.warehouse import ensure_schema

    settings = data.bench_settings(root)
    conn = duckdb.connect(str(settings.warehouse),
                          config={"memory_limit": memory_limit, "threads": 2})
    try:
        conn.execute("SET TimeZone = 'UTC'")
        ensure_schema(conn)
        began = time.perf_counter()
        scan = ingest.scan_landing(conn, settings)
        scanned = time.perf_counter()
        build = ingest.build_days(conn, settings, scan.days_touched)
        return {"scan_s": round(scanned - began, 1),
                "build_s": round(time.perf_counter() - scanned, 1),
                "rows_valid": scan.rows_valid, "accepted": build.accepted,
                "identical": build.identical_duplicates, "conflicts": build.conflicts}
    finally:
        conn.close()


def run(root: Path, per_day: int, memory_limit: str, days: int = DAYS, log=print) -> dict:
    shutil.rmtree(root, ignore_errors=True)
    settings = data.bench_settings(root)
    landed = data.write_random_id_days(settings, [data.day_of(k) for k in range(days)],
                                       per_day)
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    watch = _Watch({"spill": Path(f"{settings.warehouse}.tmp"), "curated": settings.curated},
                   root)
    watch.start()
    try:
        result = run_task("big_run", {"root": str(root), "memory_limit": memory_limit},
                          data.bench_env(root, memory_limit))
    finally:
        watch.stop()
    shutil.rmtree(root, ignore_errors=True)
    out = {"days": days, "events_per_day": per_day, "landed_rows": landed,
           "memory_limit": memory_limit, "process_s": result["process_s"],
           "cpu_s": result["cpu_s"], "peak_rss_mb": result["peak_rss_mb"],
           "largest_spill_mb": round(watch.largest["spill"] / 2**20, 1),
           "largest_curated_mb": round(watch.largest["curated"] / 2**20, 1),
           "least_free_disk_gb": round(watch.least_free / 2**30, 1),
           "load_avg_1m": result["load_avg_1m"],
           **{k: result[k] for k in ("scan_s", "build_s", "accepted", "identical",
                                     "conflicts")}}
    log(f"  {landed:,} events in one run: process {out['process_s']} s (scan {out['scan_s']} "
        f"s, build {out['build_s']} s), CPU {out['cpu_s']} s, peak RSS {out['peak_rss_mb']} "
        f"MB, largest spill {out['largest_spill_mb']} MB")
    return out
