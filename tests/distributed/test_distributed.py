"""Distributed mode against real servers on 127.0.0.1 (PostgreSQL instance, Redis broker,
moto's S3, two Celery workers, all started by cluster/up.sh): the same landing set gives the
same curated events, quarantine and summaries as the embedded default, row for row, even
when a worker is SIGKILLed in the middle of a read step and another in the middle of the
warehouse step, and when two runs over the same days run
at once; writer steps run on the worker that owns the warehouse, one at a time, other steps
on either worker (from Dagster's event log); the ingestion's read steps, the id index
update's fold steps and the daily summaries' compute steps fan out across both.

The tests share one cluster and run in file order (the second relies on the first's runs).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from pipelines.distributed import StepRecord, step_records
from tests.distributed.conftest import READ_STEPS, SUMMARY_STEPS, Cluster
from tests.harness import (
    END,
    SELECT,
    Workspace,
    assert_conserved,
    assert_same_state,
    ok,
    snapshot,
    write_landing,
)
from usage_model.funding.sample import write_sample_balance
from usage_model.storage import location, s3_options_from_env

pytestmark = pytest.mark.distributed

WAREHOUSE_QUEUE_WORKER = "w1"
OTHER_WORKER = "w2"
RECORD_STEP = "build_usage_events.record_scans"
READ_STEP = "build_usage_events.read_files["
COMPUTE_STEP = "build_daily_summaries.compute_summary_days["
FOLD_STEP = "build_usage_events.fold_index_range["


def _upload(local: Path, cluster: Cluster) -> None:
    """Copy every landed file to the cluster's S3 landing with pyarrow's S3FileSystem."""
    target = location(cluster.env["CITY_USAGE_LANDING"], s3_options_from_env(cluster.env))
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        relative = path.relative_to(local).as_posix()
        with target.fs.open_output_stream(target.path(relative)) as out:
            out.write(path.read_bytes())


def _late_batch(usage: Path) -> Path:
    """A late file: identical copies of known rows, and new calls on the last day."""
    first = usage / f"dt={END.isoformat()}" / "part-000.parquet"
    known = pq.read_table(first).slice(0, 8)
    fresh = known.slice(4).set_column(
        known.schema.get_field_index("event_id"), "event_id",
        pc.binary_join_element_wise(known.slice(4)["event_id"], "-late", ""),
    )
    late = usage / "late" / "batch-1.parquet"
    late.parent.mkdir(parents=True)
    pq.write_table(pa.concat_tables([known.slice(0, 4), fresh]), late)
    return late


def _materialize_both(embedded: Workspace, cluster: Cluster, distributed_runs: int = 1) -> None:
    """`city-usage materialize` embedded, and `distributed_runs` times distributed, all at
    once (the embedded run has its own data dir)."""
    started = [embedded.start_materialize()]
    started += [cluster.start_cli("materialize", "--select", SELECT)
                for _ in range(distributed_runs - 1)]
    ok(cluster.cli("materialize", "--select", SELECT))
    for process in started:
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-2000:]


def _materializations(instance: dg.DagsterInstance, asset: str) -> list[dict]:
    """The metadata of every materialization of `asset` so far, in all runs."""
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records
    return [r.asset_materialization.metadata for r in records]


def _all_steps(instance: dg.DagsterInstance) -> list[StepRecord]:
    return [step for run in instance.get_runs() for step in step_records(instance, run.run_id)]


def test_same_results_as_embedded_despite_a_killed_worker_and_concurrent_runs(
    cluster: Cluster, instance: dg.DagsterInstance, tmp_path: Path
):
    embedded = Workspace.create(tmp_path / "embedded")
    write_landing(embedded.usage)
    _upload(embedded.landing, cluster)

    _materialize_both(embedded, cluster)
    assert cluster.killed_marker.exists(), "the worker crash point never fired"
    # Once materialize exits no worker holds the warehouse: this process can open it to write.
    duckdb.connect(str(cluster.workspace.warehouse)).close()
    # The curated events compared are the objects under the cluster's S3 prefix (listed with
    # pyarrow), against the embedded run's local day files.
    assert_same_state(snapshot(cluster.workspace), snapshot(embedded))
    conserved = assert_conserved(cluster.workspace)
    assert conserved["quarantined"] > 0 and conserved["identical"] > 0  # the mess was there
    assert conserved["curated"] > 0
    assert not (cluster.workspace.data / "curated").exists(), "curated data on local disk"

    # The killed step (it records the read files in the warehouse) ran again to success on
    # the worker that owns the warehouse.
    scans = [s for s in _all_steps(instance) if s.step_key == RECORD_STEP]
    assert scans and all(s.succeeded for s in scans)
    assert sum(s.attempts for s in scans) == len(scans) + 1
    # So did the read step whose worker died after storing the first file of its share: it
    # was delivered again (to either worker), rewrote the same objects and read the rest.
    reads = [s for s in _all_steps(instance) if s.step_key.startswith(READ_STEP)]
    assert len(reads) == READ_STEPS and all(s.succeeded for s in reads)
    assert sum(s.attempts for s in reads) == len(reads) + 1
    fired = {line.split()[0] for line in cluster.killed_marker.read_text().splitlines()}
    assert fired == {"after_scan_file", "after_store_read"}
    # The record step took every file's result as the read steps stored it on S3 (JSON and
    # Parquet, validated), none read again for want of a usable one.
    usage = _materializations(instance, "usage_events")  # one per day of the run
    landed = len(list(embedded.usage.rglob("*.parquet")))
    assert usage and {m["files_read_in_read_steps"].value for m in usage} == {landed}
    assert all(m["stored_reads_unusable"].value == [] for m in usage)

    # A late batch, materialized by two distributed runs at once over the same days: both
    # modes rebuild the day it touches, and still agree (no lost or doubled rows).
    _late_batch(embedded.usage)
    _upload(embedded.landing, cluster)
    _materialize_both(embedded, cluster, distributed_runs=2)
    assert_same_state(snapshot(cluster.workspace), snapshot(embedded))
    assert_conserved(cluster.workspace)


def _fanned_out(instance: dg.DagsterInstance, prefix: str) -> tuple[str, list[StepRecord]]:
    """The steps named `prefix…` of the run that has the most of them, checked to have run
    on the `dagster` queue on both workers, two of them at the same time. A step delivered
    again after its worker died counts where its first attempt ran, and when it started."""
    runs = {run.run_id: [s for s in step_records(instance, run.run_id)
                         if s.step_key.startswith(prefix)] for run in instance.get_runs()}
    run_id = max(runs, key=lambda run: len(runs[run]))
    first = runs[run_id]
    assert all(s.succeeded and s.queue == "dagster" for s in first)
    by_worker = {}
    for step in first:
        by_worker.setdefault(step.workers[0].split("@")[0], []).append(step)
    assert set(by_worker) == {WAREHOUSE_QUEUE_WORKER, OTHER_WORKER}
    (a, b) = by_worker.values()
    assert any(x.first_started < y.finished and y.first_started < x.finished
               for x in a for y in b), f"no two {prefix}… steps ran at the same time"
    return run_id, first


def test_read_steps_fan_out_across_both_workers(instance: dg.DagsterInstance):
    """The first test's runs: each read its landed files in CITY_USAGE_READ_STEPS steps on
    the `dagster` queue, taken by both workers and running at the same time. That run also
    loses a worker in a read step, whose redelivery may go to either worker."""
    _, first = _fanned_out(instance, READ_STEP)  # the first run read every landed file
    assert len(first) == READ_STEPS, [s.step_key for s in first]


def test_summary_days_fan_out_across_both_workers(instance: dg.DagsterInstance):
    """The first test's daily runs computed their days' summaries in CITY_USAGE_SUMMARY_STEPS
    steps on both workers at once; the commit step took every day of the first run as
    stored on S3 (the tables equal the embedded run's: the first test)."""
    run_id, first = _fanned_out(instance, COMPUTE_STEP)
    records = instance.fetch_materializations(dg.AssetKey("usage_daily_by_model"),
                                              limit=1000).records
    # One materialization per day of the run (it had no pending day besides).
    commits = [r.asset_materialization.metadata for r in records if r.run_id == run_id]
    assert len(first) == min(SUMMARY_STEPS, len(commits)), [s.step_key for s in first]
    assert commits and all(m["stored_days_unusable"].value == [] for m in commits)
    assert {m["days_from_compute_steps"].value for m in commits} == {len(commits)}


def test_index_folds_fan_out_across_both_workers(cluster: Cluster,
                                                 instance: dg.DagsterInstance):
    """The first test's runs: the id index update of the run that indexed every landed file
    was folded in several `fold_index_range` steps on the `dagster` queue, by both workers,
    and committed by the warehouse step: current segments are named after a run's plan (a
    commit that found its plan stale redoes it under a name of its own)."""
    runs = {run.run_id: [s for s in step_records(instance, run.run_id)
                         if s.step_key.startswith(FOLD_STEP)] for run in instance.get_runs()}
    run_id, first = max(runs.items(), key=lambda item: len(item[1]))
    assert len(first) > 2, [s.step_key for s in first]
    assert all(s.succeeded and s.queue == "dagster" for s in first)
    assert {s.workers[0].split("@")[0] for s in first} == {WAREHOUSE_QUEUE_WORKER, OTHER_WORKER}
    # every fold's output was used as it was: none failed and left its range to the commit
    refolded = [e.user_message for e in instance.all_logs(run_id)
                if "the warehouse step folds it" in (e.user_message or "")]
    assert refolded == []
    # the index and its update's staging are on S3, beside the curated data, not in the
    # warehouse host's work folder: a worker needs no folder shared with it
    work = Path(cluster.env["CITY_USAGE_DATA_DIR"]) / "work"
    assert not (work / "_index").exists() and not (work / "_index_staging").exists()
    index = location(cluster.env["CITY_USAGE_CURATED"] + "/_index",
                     s3_options_from_env(cluster.env))
    on_s3 = {info.base_name for info in index.fs.get_file_info(
        pafs.FileSelector(index.root, recursive=True)) if info.type == pafs.FileType.File}
    plans = {run.run_id.replace("-", "") for run in instance.get_runs()}
    with duckdb.connect(str(cluster.workspace.warehouse), read_only=True) as conn:
        names = [r[0] for r in conn.execute("SELECT segment FROM usage_index_segments").fetchall()]
        in_flight = conn.execute("SELECT count(*) FROM usage_index_plans").fetchone()[0]
    assert any(name.split("-")[1] in plans for name in names)
    assert in_flight == 0  # every plan committed or released
    assert on_s3 == set(names) | {name + ".hashes" for name in names}


def test_writers_run_on_the_warehouse_worker_one_at_a_time(
    cluster: Cluster, instance: dg.DagsterInstance
):
    # Downcity's exports and Stripe's webhook events land on S3 beside the usage files
    # (CITY_USAGE_LANDING/balance, CITY_USAGE_LANDING/stripe/events).
    balance, events = (location(cluster.env["CITY_USAGE_LANDING"] + sub,
                                s3_options_from_env(cluster.env))
                       for sub in ("/balance", "/stripe/events"))
    write_sample_balance(balance, events,
                         [f"u-{i:04d}" for i in range(40)], seed=3, end=END - timedelta(days=1))
    ok(cluster.cli("materialize", "--select",
                   "key:downcity_topups or key:stripe_objects or key:balances"))
    with duckdb.connect(str(cluster.workspace.warehouse), read_only=True) as conn:
        landed = conn.execute("SELECT count(*) FROM downcity_topups").fetchone()[0]
        consumed = conn.execute("SELECT count(*) FROM stripe_events "
                                "WHERE source = 'webhook'").fetchone()[0]
    assert landed > 0  # read from the S3 balance landing by a worker
    assert consumed > 0  # and the webhook events from the S3 events landing

    steps = _all_steps(instance)
    host_of = {s.worker.split("@", 1)[0] for s in steps}
    assert host_of == {WAREHOUSE_QUEUE_WORKER, OTHER_WORKER}, host_of
    writers = [s for s in steps if s.queue == "warehouse"]
    others = [s for s in steps if s.queue != "warehouse"]
    assert writers and others
    assert {s.worker.split("@")[0] for s in writers} == {WAREHOUSE_QUEUE_WORKER}
    # Other steps go to the `dagster` queue, which both workers serve (w1 between writers).
    assert {s.queue for s in others} == {"dagster"}
    spans = sorted((s.started, s.finished) for s in writers)
    for (_, end_before), (start_next, _) in zip(spans, spans[1:], strict=False):
        assert start_next >= end_before, "two warehouse writers overlapped"

