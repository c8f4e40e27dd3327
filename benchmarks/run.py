"""All the benchmarks in one run: `python -m benchmarks.run [--scales 1M,10M,50M] [--quick]`.

Writes `benchmarks/results/run-<UTC time>.json` and (not with --quick)
`benchmarks/results/latest.json`, and prints the tables (`benchmarks/report.py`).
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import psutil

from benchmarks import (
    bench_backfill,
    bench_big_run,
    bench_end_to_end,
    bench_history,
    bench_incremental,
    bench_memory,
    bench_scale,
    report,
)
from benchmarks.measure import load_average

RESULTS = Path(__file__).parent / "results"
FULL = {"scales": "1M,10M,50M", "incremental_per_day": 200_000, "backfill_per_day": 100_000,
        "backfill_days": 30, "memory_day": 20_000_000, "repeats": 3,
        "end_to_end_per_day": 1_000_000, "history_new_day": 1_000_000,
        "history_per_day": 200_000, "big_run_per_day": 10_000_000,
        "parts": "scale,incremental,backfill,memory,end_to_end,history,big_run"}
# Quick: every code path once at toy sizes (the 1-day memory run is left out: the scale run
# already reports peak RSS).
QUICK = {"scales": "200K", "incremental_per_day": 5_000, "backfill_per_day": 5_000,
         "backfill_days": 10, "memory_day": 200_000, "repeats": 1,
         "end_to_end_per_day": 20_000, "history_new_day": 2_000,
         "history_per_day": 2_000, "big_run_per_day": 20_000,
         "parts": "scale,incremental,backfill,end_to_end,history,big_run"}


def parse_scale(text: str) -> int:
    text = text.strip().upper()
    factor = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * factor)


def machine() -> dict:
    return {"cpus": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "duckdb": duckdb.__version__,
            "platform": platform.platform()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", help="events per scale run, e.g. 1M,10M,50M")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (about a minute)")
    parser.add_argument("--memory-limit", default="1GB", help="DuckDB memory_limit everywhere")
    parser.add_argument("--only", help="comma-separated parts: "
                        "scale,incremental,backfill,memory,end_to_end,history,big_run")
    parser.add_argument("--end-to-end-per-day", type=int,
                        help="events a day in the end-to-end part (10 days)")
    parser.add_argument("--history-new-day", type=int,
                        help="events of the new day in the new-day-vs-history part")
    parser.add_argument("--history-per-day", type=int,
                        help="ids a day of the synthetic history in that part")
    parser.add_argument("--root", type=Path,
                        default=Path(tempfile.gettempdir()) / "city-usage-bench")
    args = parser.parse_args()
    plan = dict(QUICK if args.quick else FULL)
    if args.scales:
        plan["scales"] = args.scales
    if args.end_to_end_per_day:
        plan["end_to_end_per_day"] = args.end_to_end_per_day
    if args.history_new_day:
        plan["history_new_day"] = args.history_new_day
    if args.history_per_day:
        plan["history_per_day"] = args.history_per_day
    bench_incremental.REPEATS = plan["repeats"]
    parts = set((args.only or plan["parts"]).split(","))
    began = time.perf_counter()
    out: dict = {"started": datetime.now(UTC).isoformat(timespec="seconds"),
                 "machine": machine(), "memory_limit": args.memory_limit, "quick": args.quick,
                 "plan": plan, "load_avg_start": os.getloadavg()}
    if "scale" in parts:
        out["scales"] = []
        for text in plan["scales"].split(","):
            events = parse_scale(text)
            print(f"scale {events:,} events (load {load_average()})", flush=True)
            out["scales"].append(bench_scale.run(args.root / "scale", events, args.memory_limit))
    # Each single-size part: what it prints, then how it runs (the plan gives its size).
    steps = {
        "incremental": (f"incremental, {plan['incremental_per_day']:,} events a day",
                        lambda root: bench_incremental.run(
                            root, plan["incremental_per_day"], args.memory_limit)),
        "backfill": (f"backfill, {plan['backfill_days']} days of {plan['backfill_per_day']:,} "
                     "events",
                     lambda root: bench_backfill.run(root, plan["backfill_per_day"],
                                                     args.memory_limit,
                                                     days=plan["backfill_days"])),
        "memory": (f"memory, one day of {plan['memory_day']:,} events",
                   lambda root: bench_memory.run(root, plan["memory_day"], args.memory_limit)),
        "end_to_end": (f"end to end, {bench_end_to_end.DAYS} days of "
                       f"{plan['end_to_end_per_day']:,} events",
                       lambda root: bench_end_to_end.run(root, plan["end_to_end_per_day"],
                                                         args.memory_limit)),
        "history": (f"new day of {plan['history_new_day']:,} events vs history of "
                    f"{plan['history_per_day']:,} ids a day",
                    lambda root: bench_history.run(root, plan["history_new_day"],
                                                   args.memory_limit,
                                                   history_per_day=plan["history_per_day"])),
        "big_run": (f"one run of {bench_big_run.DAYS} days × {plan['big_run_per_day']:,} events",
                    lambda root: bench_big_run.run(root, plan["big_run_per_day"],
                                                   args.memory_limit)),
    }
    for part, (label, run_part) in steps.items():
        if part in parts:
            print(f"{label} (load {load_average()})", flush=True)
            out[part] = run_part(args.root / part)
    out["read_bench_100m"] = report.read_bench_figure()
    out["elapsed_s"] = round(time.perf_counter() - began, 1)
    out["load_avg_end"] = os.getloadavg()
    out["targets"] = report.targets(out)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"run-{stamp}{'-quick' if args.quick else ''}.json"
    text = json.dumps(out, indent=2, default=str) + "\n"
    (RESULTS / name).write_text(text)
    if not args.quick:  # a smoke run never replaces the figures the READMEs cite
        (RESULTS / "latest.json").write_text(text)
    print(report.markdown(out))
    print(f"results: benchmarks/results/{name} ({out['elapsed_s']} s)")


if __name__ == "__main__":
    main()
