"""The daily summaries computed by the warehouse step alone (the embedded default) against the
same days computed by compute steps in their own processes (1 or 2 at once, as 1 or 2
workers) and committed by the warehouse step (usage_model/usage/summary_exchange.py), on the
same curated days, back to back. Wall and CPU seconds of each part and the load average
before each; the tables are checked identical.

    python -m benchmarks.bench_summary_steps --days 10 --events-per-day 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path

from benchmarks import data
from benchmarks.measure import PROJECT, load_average
from usage_model.config import Settings
from usage_model.usage import ingest, summaries, summary_exchange
from usage_model.usage.intents import DAILY_TABLES
from usage_model.warehouse import connect

RESULTS = PROJECT / "benchmarks" / "results"


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


class _Timer:
    """Wall and CPU seconds (this process and its finished children) of a block."""

    def __enter__(self) -> _Timer:
        self.load = load_average()
        self._wall = time.perf_counter()
        self._cpu = _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = round(time.perf_counter() - self._wall, 2)
        self.cpu_s = round(_cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)
                           - self._cpu, 2)

    def figures(self) -> dict[str, float]:
        return {"wall_s": self.wall_s, "cpu_s": self.cpu_s, "load_avg_1m": self.load}


def _checksum(settings: Settings) -> dict[str, list]:
    with connect(settings.warehouse) as conn:
        return {t: conn.execute(f"SELECT count(*), sum(calls), sum(hash(COLUMNS(*))) "
                                f"FROM {t}").fetchall()[0] for t in DAILY_TABLES}


def one_step(settings: Settings, days: list) -> dict[str, object]:
    with _Timer() as timer, connect(settings.warehouse) as conn:
        summaries.build_daily(conn, settings, days)
    return {"warehouse_step": timer.figures()}


def _timed_compute(settings: Settings, share: list, run_id: str) -> tuple[list, float, float]:
    """One compute step's work and its own wall and CPU seconds (a worker's process is
    already running and imported: its start-up is not the step's)."""
    began, cpu = time.perf_counter(), _cpu(resource.RUSAGE_SELF)
    done = summary_exchange.compute_days(settings, share, run_id)
    return done, time.perf_counter() - began, _cpu(resource.RUSAGE_SELF) - cpu


def in_steps(settings: Settings, days: list, steps: int, run_id: str) -> dict[str, object]:
    with _Timer() as plan, connect(settings.warehouse) as conn:
        shares = summary_exchange.plan_days(conn, days, steps)
    # Each share in its own fresh process, `steps` at once (a worker each).
    with _Timer() as compute, ProcessPoolExecutor(steps, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_timed_compute, [settings] * len(shares), shares,
                                [run_id] * len(shares)))
    done = [task for share, _, _ in results for task in share]
    stored = summary_exchange.StoredDays(settings, run_id, done)
    with _Timer() as commit, connect(settings.warehouse) as conn:
        summaries.build_daily(conn, settings, days, DAILY_TABLES, stored)
    assert stored.used == len(days), stored.unusable
    summary_exchange.remove_stored(settings, run_id)
    return {"plan": plan.figures(), "compute_steps": compute.figures(),
            "compute_inside_steps": [{"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
                                     for _, wall, cpu in results],
            "commit_step": commit.figures(), "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--events-per-day", type=int, default=1_000_000)
    parser.add_argument("--root", type=Path, default=Path("/tmp/city-usage-bench-summary"))
    args = parser.parse_args()
    settings, days = data.fresh_root(args.root, args.days)
    os.environ["CITY_USAGE_DATA_DIR"] = str(settings.data_dir)  # for the compute processes
    data.write_random_id_days(settings, days, args.events_per_day)
    with _Timer() as prepared, connect(settings.warehouse) as conn:
        ingest.scan_landing(conn, settings)
        ingest.build_days(conn, settings, days)
    print(f"ingested {args.days} x {args.events_per_day:,} in {prepared.wall_s} s", flush=True)
    result: dict[str, object] = {"days": args.days, "events_per_day": args.events_per_day,
                                 "cpus": os.cpu_count(), "ingest": prepared.figures()}
    expected = None
    for label, measure in [("one_step", lambda: one_step(settings, days)),
                           ("two_steps", lambda: in_steps(settings, days, 2, "bench-2")),
                           ("one_compute_step", lambda: in_steps(settings, days, 1, "bench-1")),
                           ("one_step_again", lambda: one_step(settings, days))]:
        result[label] = measure()
        got = _checksum(settings)
        expected = expected or got
        assert got == expected, f"{label}: tables differ"
        print(label, json.dumps(result[label]), flush=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = RESULTS / f"summary-steps-{stamp}.json"
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {target}")
    shutil.rmtree(args.root, ignore_errors=True)


if __name__ == "__main__":
    main()
