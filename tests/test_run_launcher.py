"""The distributed instance's run launcher (pipelines/run_launcher.py) tells the daemon's run
monitoring whether a CLI-launched run's process lives, from the run's own process tags (on
the daemon's host) or its heartbeat tag (another host's process): real processes, real run
objects, an injected clock, no daemon needed."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg

from pipelines.launch import ALIVE_TAG, HOST_TAG, PID_TAG, process_tags
from pipelines.run_launcher import STALE_AFTER_S, CliRunLauncher, WorkerStatus

NOW = 1_780_000_000  # the daemon host's clock in these tests


def _run(tags: dict[str, str]) -> dg.DagsterRun:
    return dg.DagsterRun(job_name="usage_job", run_id="r-1", tags=tags)


def _health(tags: dict[str, str]):
    launcher = CliRunLauncher()
    launcher.now = lambda: NOW
    assert launcher.supports_check_run_worker_health
    return launcher.check_run_worker_health(_run(tags))


def test_a_live_process_of_this_host_is_running():
    assert _health(process_tags()).status == WorkerStatus.RUNNING


def test_a_gone_process_of_this_host_is_failed_and_named():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=60)
    result = _health({**process_tags(), PID_TAG: str(gone.pid)})
    assert result.status == WorkerStatus.FAILED
    assert result.msg == f"the city-usage process {gone.pid} running it is gone"


OTHER_HOST = {PID_TAG: str(os.getpid() + 10_000_000), HOST_TAG: "another-host"}


def test_runs_it_cannot_check_are_left_running():
    # Another host's process without a heartbeat tag (launched by an older city-usage), and a
    # run without the tags (the UI's, or one a sensor launched).
    assert _health(OTHER_HOST).status == WorkerStatus.RUNNING
    assert _health({**OTHER_HOST, ALIVE_TAG: "not a time"}).status == WorkerStatus.RUNNING
    assert _health({}).status == WorkerStatus.RUNNING


def test_another_hosts_run_lives_while_its_heartbeat_is_recent():
    for silent in (0, 30, STALE_AFTER_S):
        beat = {**OTHER_HOST, ALIVE_TAG: str(NOW - silent)}
        assert _health(beat).status == WorkerStatus.RUNNING, silent


def test_another_hosts_run_whose_heartbeat_stopped_is_failed_and_named():
    silent = STALE_AFTER_S + 1
    result = _health({**OTHER_HOST, ALIVE_TAG: str(NOW - silent)})
    assert result.status == WorkerStatus.FAILED
    assert result.msg == (f"the city-usage process {OTHER_HOST[PID_TAG]} on another-host "
                          f"has not reported for {silent} s")
