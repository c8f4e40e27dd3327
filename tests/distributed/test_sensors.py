"""The cluster's sensors and schedules run distributed: with CLUSTER_AUTOMATION=on, the
cluster's dagster-daemon loads `pipelines.distributed` as its code
location, so a file landed on S3 is found by the landing sensor and the run it launches
executes its steps on the Celery workers, with the same result as the embedded default.

The shared cluster starts its daemon with automation off (the default: its other tests
launch their own runs); this module switches it on with cluster/daemon.sh and back off when
it ends. It runs after the other modules of this folder (pytest's order is by file name),
whose tests count the worker crash points the cluster fires once: those have fired before a
sensor's run.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines.distributed import step_records
from tests.cli_process import ROOT
from tests.distributed.conftest import Cluster
from tests.harness import END, Workspace, ok, write_landing
from usage_model.storage import location, s3_options_from_env
from usage_model.usage import layout

pytestmark = pytest.mark.distributed

SENSOR = "usage_landing_sensor"
SUFFIX = "-sensor"
BATCH = "sensor/batch-1.parquet"
# The sensor ticks every 30 s and the run queue is served every few seconds; the run itself
# takes well under a minute on two workers.
RUN_BOUND_S = 300


def _daemon(cluster: Cluster, automation: str) -> None:
    done = subprocess.run([str(ROOT / "cluster" / "daemon.sh")], capture_output=True,
                          text=True, env={**cluster.up_env, "CLUSTER_AUTOMATION": automation},
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def automation(cluster: Cluster) -> Iterator[None]:
    _daemon(cluster, "on")
    try:
        yield
    finally:
        _daemon(cluster, "off")


def _batch(usage: Path) -> pa.Table:
    """Rows of a known landed file under new event ids: new events for the sensor to find
    (with the file's own mess: its bad rows and repeated ids keep their outcomes)."""
    known = pq.read_table(usage / f"dt={END.isoformat()}" / "part-000.parquet")
    column = known.schema.get_field_index("event_id")
    return known.set_column(column, "event_id",
                            pc.binary_join_element_wise(known["event_id"], SUFFIX, ""))


def _sensor_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return list(instance.get_runs(dg.RunsFilter(tags={"dagster/sensor_name": SENSOR})))


def _wait_for_sensor_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    deadline = time.monotonic() + RUN_BOUND_S
    while time.monotonic() < deadline:
        runs = _sensor_runs(instance)
        if runs and all(run.is_finished for run in runs):
            return runs
        time.sleep(2)
    raise AssertionError(f"no finished run of {SENSOR} within {RUN_BOUND_S} s: "
                         f"{[(r.job_name, r.status) for r in _sensor_runs(instance)]}")


def _sensor_ids(ws: Workspace) -> list[str]:
    """The batch's event ids among the curated events of END (local or on S3)."""
    events = ws.events_location()
    with duckdb.connect() as conn:
        ids = layout.events_relation(conn, events, [layout.day_path(events, END)]).to_arrow_table()
    return sorted(i for i in ids["event_id"].to_pylist() if i.endswith(SUFFIX))


def test_a_landed_file_is_built_by_the_sensor_on_the_workers(
    cluster: Cluster, instance: dg.DagsterInstance, automation: None, tmp_path: Path
):
    assert not _sensor_runs(instance)
    # The same file in embedded mode, built by `city-usage materialize`: the reference.
    embedded = Workspace.create(tmp_path / "embedded")
    write_landing(embedded.usage)
    batch = _batch(embedded.usage)
    (embedded.usage / BATCH).parent.mkdir(parents=True)
    pq.write_table(batch, embedded.usage / BATCH)
    ok(embedded.materialize())

    landing = location(cluster.env["CITY_USAGE_LANDING"], s3_options_from_env(cluster.env))
    with landing.fs.open_output_stream(landing.path("usage", BATCH)) as out:
        out.write((embedded.usage / BATCH).read_bytes())

    runs = _wait_for_sensor_runs(instance)
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs), [
        (run.job_name, run.status) for run in runs]
    daily = [run for run in runs if run.job_name == "usage_daily_job"]
    assert daily, [run.job_name for run in runs]
    # Launched by the daemon, orchestrated on its host, every step executed by a worker.
    for run in daily:
        steps = step_records(instance, run.run_id)
        assert steps and all(step.succeeded for step in steps)
        assert {step.worker.split("@")[0] for step in steps} <= {"w1", "w2"}
        assert any(step.step_key.endswith("commit_and_build") and step.queue == "warehouse"
                   for step in steps), [(s.step_key, s.queue) for s in steps]

    expected = _sensor_ids(embedded)
    assert expected  # the batch brought new valid events on END
    assert _sensor_ids(cluster.workspace) == expected
