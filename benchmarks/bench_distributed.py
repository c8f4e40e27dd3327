"""Distributed mode against the embedded default on the same landing (docs/scale.md):
`python -m benchmarks.bench_distributed [--days 8] [--events-per-day 50000]`.

For each worker layout a fresh cluster is started with cluster/up.sh in a temporary folder
(one worker serving both queues; or the default two: `w1` on both queues, `w2` on the
`dagster` queue, where the ingestion's CITY_USAGE_READ_STEPS read steps run), the same
sample landing is uploaded to its S3, and `city-usage materialize` over the usage and
summary assets is timed; the embedded run is timed on a local copy. From the
cluster's event log: each step's run time, its dispatch latency (queued to started on a
worker) and the per-step overhead of the Celery path (wall time not spent inside steps,
divided by the steps). CPU seconds: of the `materialize` process and its children, and of
every cluster worker process and its descendants (read from /proc before the cluster stops).
`--fold-steps` (CITY_USAGE_FOLD_STEPS, on in `.cluster/env`) and `--rows-per-fold`
(CITY_USAGE_INDEX_ROWS_PER_FOLD) set the id index update's fold steps.
Writes benchmarks/results/distributed-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
SELECT = "group:usage or group:summaries"
CLI = [sys.executable, "-c", "from pipelines.cli import main; main()"]
# Both layouts: `w1` owns the warehouse queue; the `dagster` queue (the read steps, the
# other assets) is served by w1 alone, or by w1 and w2.
LAYOUTS = {"1 worker": "w1:warehouse,dagster", "2 workers": "w1:warehouse,dagster w2:dagster"}
INGEST = "build_usage_events."
END = date(2026, 6, 30)


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("CITY_USAGE_", "AWS_")) and k != "DAGSTER_HOME"}


def _read_env(path: Path) -> dict[str, str]:
    done = subprocess.run(["bash", "-c", f"set -a; source {path}; env -0"], check=True,
                          capture_output=True, env={"PATH": os.environ["PATH"]})
    return dict(i.split("=", 1) for i in done.stdout.decode().split("\0") if "=" in i)


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _materialize(env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one `city-usage materialize` (the process and its children)."""
    began, cpu = time.perf_counter(), _children_cpu_s()
    done = subprocess.run([*CLI, "materialize", "--select", SELECT], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"materialize failed: {done.stderr[-2000:]}")
    return time.perf_counter() - began, _children_cpu_s() - cpu


def _tree_cpu_s(roots: set[int]) -> float:
    """CPU seconds (user + system, with reaped children's) of the processes `roots` and all
    their descendants alive now, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), sum(map(int, fields[11:15])))
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = set(), [pid for pid in roots if pid in stats]
    while todo:
        pid = todo.pop()
        if pid not in tree:
            tree.add(pid)
            todo += children.get(pid, [])
    return sum(stats[pid][1] for pid in tree) / tick


def _workers_cpu_s(cluster_dir: Path) -> float:
    pids = {int(line.split()[1]) for line in (cluster_dir / "pids").read_text().splitlines()
            if line.startswith("worker-")}
    return round(_tree_cpu_s(pids), 2)


def _write_landing(usage: Path, days: int, events_per_day: int) -> int:
    from usage_model.usage.sample import write_sample_landing

    return write_sample_landing(usage, days=days, events_per_day=events_per_day, seed=5,
                                end=END).rows


def _upload(local: Path, env: dict[str, str]) -> None:
    from usage_model.storage import location, s3_options_from_env

    target = location(env["CITY_USAGE_LANDING"], s3_options_from_env(env))
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        with target.fs.open_output_stream(target.path(path.relative_to(local).as_posix())) as out:
            out.write(path.read_bytes())


def _step_figures(env: dict[str, str]) -> dict[str, object]:
    import dagster as dg

    from pipelines.distributed import step_records

    os.environ.update({k: env[k] for k in ("DAGSTER_HOME", "CITY_USAGE_PG_URL")})
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        steps = [s for run in runs for s in step_records(instance, run.run_id)]
        walls = [run_wall(instance, run.run_id) for run in runs]
    inside = sum((s.finished or s.started) - s.started for s in steps)
    return {
        "ingestion": _ingestion_figures([s for s in steps if s.step_key.startswith(INGEST)]),
        "steps": {s.step_key: {"queue": s.queue, "worker": s.worker,
                               "seconds": round((s.finished or s.started) - s.started, 2),
                               "dispatch_s": round(s.started - s.submitted, 2)}
                  for s in steps},
        "run_wall_s": round(sum(walls), 2),
        "inside_steps_s": round(inside, 2),
        "overhead_per_step_s": round((sum(walls) - inside) / max(len(steps), 1), 2),
    }


def _ingestion_figures(steps: list) -> dict[str, object]:
    """The usage_events graph of the (one) daily run: its span from the plan step's start to
    the record step's end, and its read steps' total time, span and workers."""
    if not steps:
        return {}
    reads = [s for s in steps if ".read_files[" in s.step_key]
    ends = [s.finished or s.started for s in steps]
    figures: dict[str, object] = {
        "span_s": round(max(ends) - min(s.started for s in steps), 2),
        "read_steps": len(reads),
        "read_workers": sorted({s.worker.split("@")[0] for s in reads}),
    }
    if reads:
        figures["read_sum_s"] = round(sum((s.finished or s.started) - s.started
                                          for s in reads), 2)
        figures["read_span_s"] = round(max(s.finished or s.started for s in reads)
                                       - min(s.started for s in reads), 2)
    folds = [s for s in steps if ".fold_index_range[" in s.step_key]
    figures["fold_steps"] = len(folds)
    if folds:
        figures["fold_workers"] = sorted({s.worker.split("@")[0] for s in folds})
        figures["fold_sum_s"] = round(sum((s.finished or s.started) - s.started
                                          for s in folds), 2)
        figures["fold_span_s"] = round(max(s.finished or s.started for s in folds)
                                       - min(s.started for s in folds), 2)
    for s in steps:
        if s.step_key.endswith(("plan_reads", "record_scans", "commit_and_build")):
            name = s.step_key.removeprefix(INGEST)
            figures[f"{name}_s"] = round((s.finished or s.started) - s.started, 2)
    return figures


def run_wall(instance, run_id: str) -> float:
    record = instance.get_run_record_by_id(run_id)
    return (record.end_time or 0) - (record.start_time or 0)


def bench_layout(name: str, workers: str, landing: Path, scratch: Path,
                 read_steps: int, fold_steps: bool, rows_per_fold: int) -> dict[str, object]:
    up_env = {**_base_env(), "CITY_USAGE_DATA_DIR": str(scratch / "data"),
              "CLUSTER_DIR": str(scratch / ".cluster"), "CLUSTER_WORKERS": workers,
              "CITY_USAGE_READ_STEPS": str(read_steps),
              "CITY_USAGE_FOLD_STEPS": str(fold_steps).lower(),
              "CITY_USAGE_INDEX_ROWS_PER_FOLD": str(rows_per_fold)}
    began = time.perf_counter()
    subprocess.run([str(ROOT / "cluster" / "up.sh")], env=up_env, cwd=ROOT, check=True,
                   capture_output=True)
    ready = time.perf_counter() - began
    try:
        env = {**_base_env(), **_read_env(scratch / ".cluster" / "env")}
        _upload(landing, env)
        wall, cpu = _materialize(env)
        return {"layout": name, "workers": workers, "curated": env["CITY_USAGE_CURATED"],
                "read_steps": read_steps, "fold_steps": fold_steps,
                "rows_per_fold": rows_per_fold,
                "cluster_ready_s": round(ready, 1),
                "materialize_s": round(wall, 2), "materialize_cpu_s": round(cpu, 2),
                "workers_cpu_s": _workers_cpu_s(scratch / ".cluster"),
                "load_average_after": os.getloadavg(), **_step_figures(env)}
    finally:
        subprocess.run([str(ROOT / "cluster" / "down.sh")], env=up_env, cwd=ROOT,
                       capture_output=True)


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # One landed file per day: enough files for every read step to have work.
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--events-per-day", type=int, default=50_000)
    parser.add_argument("--read-steps", type=int, default=4,
                        help="CITY_USAGE_READ_STEPS of the cluster (as .cluster/env sets)")
    parser.add_argument("--fold-steps", choices=["on", "off"], default="on",
                        help="CITY_USAGE_FOLD_STEPS of the cluster (on, as .cluster/env sets)")
    parser.add_argument("--rows-per-fold", type=int, default=1_000_000,
                        help="CITY_USAGE_INDEX_ROWS_PER_FOLD of the cluster")
    parser.add_argument("--layouts", default=",".join(LAYOUTS),
                        help="comma-separated worker layouts to run: " + ", ".join(LAYOUTS))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as tmp:
        scratch = Path(tmp)
        # The cluster's Postgres runs as `postgres`, which must traverse to its own subfolder.
        scratch.chmod(0o711)
        landing = scratch / "landing"
        rows = _write_landing(landing / "usage", args.days, args.events_per_day)
        embedded_env = {**_base_env(), "CITY_USAGE_DATA_DIR": str(scratch / "embedded"),
                        "CITY_USAGE_LANDING": str(landing),
                        "DAGSTER_HOME": str(scratch / "embedded" / "dagster")}
        embedded, embedded_cpu = _materialize(embedded_env)
        layouts = [bench_layout(name, LAYOUTS[name], landing, scratch / name.replace(" ", "-"),
                                args.read_steps, args.fold_steps == "on", args.rows_per_fold)
                   for name in args.layouts.split(",")]
    result = {
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": os.getloadavg(),
        "days": args.days, "rows_landed": rows,
        "first_day": (END - timedelta(days=args.days - 1)).isoformat(),
        "embedded_materialize_s": round(embedded, 2),
        "embedded_materialize_cpu_s": round(embedded_cpu, 2),
        "layouts": layouts,
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"distributed-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
