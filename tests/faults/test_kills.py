"""SIGKILL at chosen moments of `city-usage materialize`, then a rerun that must converge to a
clean run on the same landing files; and the leftovers a kill used to leave behind.

Kill points are named crash points in the code (usage_model/faults.py), hit in a known order,
so a seed picks a point and a hit number instead of racing a timer. CITY_USAGE_FAULT_SEEDS
raises the number of seeded cases for a longer soak.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import timedelta

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.harness import END, KILLED, ROOT, Workspace, ok, write_landing

# (point, how many times the mutated landing below reaches it in one run)
KILL_POINTS = {
    "after_forget_file": 1,      # the removed file's manifest rows are gone
    "after_scan_file": 5,        # one changed file and the new day's files, one by one
    "before_index_commit": 1,    # index segments written, the warehouse not yet told
    "after_index_commit": 1,     # new segments listed, the replaced ones not yet deleted
    "after_scan": 1,             # between scan and build
    "before_day_replace": 4,     # a day's staging file written, not yet renamed
    "after_day_replace": 4,      # some days' curated files replaced, the rest not
    "before_build_commit": 1,    # all curated files replaced, tables not committed
    "after_build_commit": 1,     # events committed, summaries not built
    "before_daily_commit": 1,    # daily summaries computed, not committed
    "before_monthly_commit": 1,  # monthly rollups computed, not committed
    "between_runs": 1,           # the daily run done, the monthly run not started
}
# Between scan and build; between index segments and their commit; mid curated write.
FIXED = ["after_scan:1", "before_index_commit:1", "before_day_replace:2"]


def seeded(count: int, seed: int = 0) -> list[str]:
    """`count` kill points `point:n`: a seeded shuffle of every (point, hit) pair, so a soak
    reaches each pair once before any repeats."""
    pairs = [f"{point}:{n}" for point, most in sorted(KILL_POINTS.items())
             for n in range(1, most + 1)]
    random.Random(seed).shuffle(pairs)
    return [pairs[i % len(pairs)] for i in range(count)]


SEEDS = int(os.environ.get("CITY_USAGE_FAULT_SEEDS", "2"))
SHUFFLE = int(os.environ.get("CITY_USAGE_FAULT_SHUFFLE", "0"))  # another order for a soak


def mutate_landing(ws: Workspace) -> None:
    """A removed file, a rewritten file and a new day, so the killed run has work of every
    kind: forget, rescan, scan, move winners, rebuild."""
    (ws.usage / f"dt={(END - timedelta(days=1)).isoformat()}" / "retry-000.parquet").unlink()
    changed = ws.usage / f"dt={(END - timedelta(days=2)).isoformat()}" / "part-001.parquet"
    table = pq.read_table(changed)
    tokens = table.schema.get_field_index("input_tokens")
    pq.write_table(table.set_column(tokens, "input_tokens",
                                    pc.add(table["input_tokens"], pa.scalar(7, pa.int64()))),
                   changed)
    write_landing(ws.usage, end=END + timedelta(days=1), days=1, seed=29)
    (ws.usage / "resend" / f"late-{(END + timedelta(days=1)).isoformat()}.parquet").unlink()


@pytest.mark.parametrize("fault", FIXED + seeded(SEEDS, SHUFFLE))
def test_killed_run_then_rerun_converges(loaded, clean_runs, fault):
    mutate_landing(loaded)
    killed = loaded.materialize(fault=fault)
    assert killed.returncode == KILLED, f"{fault} never reached: {killed.stderr[-1500:]}"
    if fault.startswith("before_day_replace:"):  # the staging file the kill left behind
        assert [p.stat().st_size > 0 for p in loaded.staging.glob("*.parquet")] == [True]
    ok(loaded.materialize())
    clean_runs.assert_converged(loaded)  # staging leftovers included


def test_kill_on_the_first_run_of_an_empty_warehouse(scratch, clean_runs):
    ws = Workspace.create(scratch / "first-run-kill")
    write_landing(ws.usage)
    assert ws.materialize(fault="after_day_replace:2").returncode == KILLED
    ok(ws.materialize())
    clean_runs.assert_converged(ws)


REGISTER_AND_DIE = """
import os, signal
import dagster as dg
from pipelines.definitions import defs
from pipelines.launch import process_tags
instance = dg.DagsterInstance.get()
job = defs.resolve_implicit_global_asset_job_def()
run = instance.create_run_for_job(job_def=job, tags={"city_usage/source": "cli", **process_tags()})
print(run.run_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_run_of_a_process_killed_before_it_started_is_marked_failed(loaded):
    """dg.materialize creates the run (NOT_STARTED) before starting it; a process killed in
    between leaves a run that no one will ever start."""
    died = subprocess.run([sys.executable, "-c", REGISTER_AND_DIE], capture_output=True,
                          text=True, env=loaded.env(), cwd=ROOT, timeout=120)
    assert died.returncode == KILLED, died.stderr[-1500:]
    run_id = died.stdout.strip()
    with dg.DagsterInstance.from_config(str(loaded.home)) as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.NOT_STARTED
    ok(loaded.materialize())
    with dg.DagsterInstance.from_config(str(loaded.home)) as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
