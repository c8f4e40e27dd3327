"""The distributed instance's run launcher (pipelines/run_launcher.py) tells the daemon's run
monitoring whether a CLI-launched run's process lives, from the run's own process tags: real
processes, real run objects, no daemon needed."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg

from pipelines.launch import HOST_TAG, PID_TAG, process_tags
from pipelines.run_launcher import CliRunLauncher, WorkerStatus


def _run(tags: dict[str, str]) -> dg.DagsterRun:
    return dg.DagsterRun(job_name="usage_job", run_id="r-1", tags=tags)


def _health(tags: dict[str, str]):
    launcher = CliRunLauncher()
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


def test_runs_it_cannot_check_are_left_running():
    # Another host's process (this host cannot see it), and a run without the tags (the UI's).
    other_host = {PID_TAG: str(os.getpid() + 10_000_000), HOST_TAG: "another-host"}
    assert _health(other_host).status == WorkerStatus.RUNNING
    assert _health({}).status == WorkerStatus.RUNNING
