"""pipelines/launch.py: runs launched through Dagster's public APIs into a real instance, and
the runs of a killed process reclaimed (failed, pool slots given back)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from pipelines.launch import (
    ALIVE_TAG,
    HOST_TAG,
    PID_TAG,
    heartbeat,
    launch_run,
    mark_alive,
    process_tags,
    reclaim_dead_runs,
)

ROOT = Path(__file__).resolve().parents[1]
POOL = "duckdb_warehouse"  # limit 1 in the project's dagster.yaml


@dg.asset(pool=POOL, check_specs=[dg.AssetCheckSpec("positive", asset="counted"),
                                  dg.AssetCheckSpec("below_ten", asset="counted")])
def counted():
    yield dg.MaterializeResult(metadata={"value": 12})
    yield dg.AssetCheckResult(check_name="positive", passed=True)
    yield dg.AssetCheckResult(check_name="below_ten", passed=False)


@dg.asset
def broken() -> None:
    raise ValueError("landed/x.parquet: row 3 has no city_id\nsecond line of detail")


DEFS = dg.Definitions(assets=[counted, broken])


def test_a_run_is_recorded_under_its_job_name_with_the_process_tags(dagster_instance):
    report = launch_run(DEFS, [counted.key], dagster_instance, job_name="cli_counted",
                        description="count", tags={"city_usage/source": "test"})
    assert report.success and report.failure is None
    assert report.materializations == 1
    assert (report.checks_passed, report.checks_failed) == (1, ["counted:below_ten"])
    run = dagster_instance.get_run_by_id(report.run_id)
    assert run.job_name == "cli_counted" and run.is_success
    assert run.tags["city_usage/source"] == "test"
    assert run.tags[PID_TAG] == str(os.getpid())


def test_a_failed_step_is_reported_with_the_user_codes_own_message(dagster_instance):
    report = launch_run(DEFS, [broken.key], dagster_instance, job_name="cli_broken",
                        description="fails")
    assert not report.success and report.materializations == 0
    assert report.failure is not None
    # The exception itself, not Dagster's "Error occurred while executing" wrapper; whole, as
    # the CLI cuts it to one line after escaping landed file names.
    assert report.failure == ("step broken failed: ValueError: landed/x.parquet: row 3 has no "
                              "city_id\nsecond line of detail")
    assert dagster_instance.get_run_by_id(report.run_id).status == dg.DagsterRunStatus.FAILURE


# A process that dies (SIGKILL) inside a pool step: its run stays STARTED and keeps the slot.
DIE_IN_STEP = textwrap.dedent("""
    import os, signal
    import dagster as dg
    from pipelines.launch import launch_run

    @dg.asset(pool="duckdb_warehouse")
    def holds_the_pool():
        print("in step", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    with dg.DagsterInstance.get() as instance:
        launch_run(dg.Definitions(assets=[holds_the_pool]), [holds_the_pool.key], instance,
                   job_name="dies", description="killed in its step")
""")


@pytest.mark.timeout(240)  # without the slot given back, the last run would wait forever
def test_the_run_of_a_killed_process_is_failed_and_its_pool_slot_given_back(dagster_instance):
    died = subprocess.run([sys.executable, "-W", "ignore", "-c", DIE_IN_STEP],
                          capture_output=True, text=True, cwd=ROOT, timeout=180,
                          env={**os.environ, "DAGSTER_HOME": os.environ["DAGSTER_HOME"]})
    assert died.returncode == -9 and "in step" in died.stdout, died.stderr[-1500:]
    [dead] = dagster_instance.get_run_records(dg.RunsFilter(job_name="dies"))
    assert dead.dagster_run.status == dg.DagsterRunStatus.STARTED

    assert reclaim_dead_runs(dagster_instance) == [dead.dagster_run.run_id]
    assert dagster_instance.get_run_by_id(dead.dagster_run.run_id).status == \
        dg.DagsterRunStatus.FAILURE
    assert reclaim_dead_runs(dagster_instance) == []  # once

    report = launch_run(DEFS, [counted.key], dagster_instance, job_name="after",
                        description="needs the pool slot")
    assert report.success


def test_runs_of_live_processes_and_other_hosts_are_left_alone(dagster_instance):
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as live:
        try:
            job = DEFS.resolve_implicit_global_asset_job_def()
            mine = dagster_instance.create_run_for_job(job_def=job, tags={
                PID_TAG: str(live.pid), HOST_TAG: socket.gethostname()})
            elsewhere = dagster_instance.create_run_for_job(job_def=job, tags={
                PID_TAG: "999999999", HOST_TAG: "another-host"})
            assert reclaim_dead_runs(dagster_instance) == []
            for run in (mine, elsewhere):
                assert dagster_instance.get_run_by_id(run.run_id).status == \
                    dg.DagsterRunStatus.NOT_STARTED
        finally:
            live.kill()


def test_a_heartbeat_tags_this_processs_unfinished_runs_with_the_time(dagster_instance):
    job = DEFS.resolve_implicit_global_asset_job_def()
    mine = dagster_instance.create_run_for_job(job_def=job, tags=process_tags())
    finished = dagster_instance.create_run_for_job(job_def=job, tags=process_tags())
    dagster_instance.report_run_failed(finished)
    other = dagster_instance.create_run_for_job(job_def=job, tags={
        PID_TAG: "999999999", HOST_TAG: "another-host"})

    assert mark_alive(dagster_instance, now=lambda: 1_780_000_123) == [mine.run_id]
    assert dagster_instance.get_run_by_id(mine.run_id).tags[ALIVE_TAG] == "1780000123"
    for untouched in (finished, other):
        assert ALIVE_TAG not in dagster_instance.get_run_by_id(untouched.run_id).tags
    # The tag moves at each beat, and the run's status is kept.
    assert mark_alive(dagster_instance, now=lambda: 1_780_000_138) == [mine.run_id]
    again = dagster_instance.get_run_by_id(mine.run_id)
    assert again.tags[ALIVE_TAG] == "1780000138"
    assert again.status == dg.DagsterRunStatus.NOT_STARTED


def test_the_heartbeat_thread_beats_until_its_body_ends(dagster_instance):
    job = DEFS.resolve_implicit_global_asset_job_def()
    run = dagster_instance.create_run_for_job(job_def=job, tags=process_tags())
    tagged = threading.Event()

    def wait_for_tag() -> None:
        for _ in range(500):
            if ALIVE_TAG in dagster_instance.get_run_by_id(run.run_id).tags:
                tagged.set()
                return
            time.sleep(0.01)

    with heartbeat(dagster_instance, interval_s=0.01):
        wait_for_tag()
    assert tagged.is_set()
    stamp = dagster_instance.get_run_by_id(run.run_id).tags[ALIVE_TAG]
    assert abs(int(stamp) - time.time()) < 60  # the real clock by default
    assert not any(t.name == "city-usage-heartbeat" for t in threading.enumerate())
