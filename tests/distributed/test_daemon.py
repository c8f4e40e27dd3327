"""The dagster-daemon cluster/up.sh starts acts on the cluster's instance (PostgreSQL): its
heartbeats are live, and a run whose process was SIGKILLed mid-step, tagged with its process
and host as `city-usage` tags its runs, is failed by the daemon's run monitoring (the
instance's run launcher, pipelines/run_launcher.py, reports the process gone) and the pool
slot that run held is given back (`free_slots_after_run_end_seconds` of cluster/dagster.yaml).
Nothing in this test opens the instance in a way that would reclaim the run itself (that is
what the next `city-usage` command does: pipelines/launch.py). That no daemon process is left
after `make cluster-down` is checked when the cluster fixture stops (conftest.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import dagster as dg
import pytest

from tests.cli_process import ROOT
from tests.distributed.conftest import Cluster, _clean_env
from tests.distributed.killed_run_probe import PROBE_POOL

pytestmark = pytest.mark.distributed

T = TypeVar("T")
# The monitoring daemon polls every 10 s and frees slots 30 s after a run ended
# (cluster/dagster.yaml): well within this bound.
DAEMON_BOUND_S = 180


def _eventually(what: str, probe: Callable[[], T | None], bound_s: float = DAEMON_BOUND_S) -> T:
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"{what}: not within {bound_s} s")


def test_the_daemon_runs_against_the_cluster_instance(cluster: Cluster,
                                                      instance: dg.DagsterInstance):
    recorded = dict(line.split()[:2] for line in
                    (cluster.root / ".cluster" / "pids").read_text().splitlines())
    os.kill(int(recorded["daemon"]), 0)  # recorded, and alive
    beats = instance.get_daemon_heartbeats()
    assert "MONITORING" in beats, sorted(beats)
    assert time.time() - beats["MONITORING"].timestamp < 60
    checked = subprocess.run([str(Path(sys.executable).parent / "dagster-daemon"),
                              "liveness-check"], capture_output=True, text=True,
                             env={**_clean_env(), **cluster.env}, cwd=ROOT, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_killed_run_is_failed_and_its_pool_slot_freed(
    cluster: Cluster, instance: dg.DagsterInstance, tmp_path: Path
):
    marker = tmp_path / "holding-the-slot"
    probe = subprocess.Popen(
        [sys.executable, "-m", "tests.distributed.killed_run_probe", str(marker)],
        env={**_clean_env(), **cluster.env}, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _eventually("the probe's step started", marker.exists, bound_s=120)
        run_id = marker.read_text()
        # While its process lives, the daemon leaves the run alone; its step holds the slot.
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
        assert run_id in (
            instance.event_log_storage.get_concurrency_info(PROBE_POOL).active_run_ids)
    finally:
        probe.send_signal(signal.SIGKILL)
        probe.wait(timeout=30)

    failed = _eventually("the daemon failed the run", lambda: (
        instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE))
    assert failed
    _eventually("the daemon freed the run's slot", lambda: run_id not in (
        instance.event_log_storage.get_concurrency_info(PROBE_POOL).active_run_ids))
    # Failed by run monitoring, for the reason the launcher gave: its process is gone.
    messages = [entry.message for entry in instance.all_logs(run_id)]
    assert any(f"the city-usage process {probe.pid} running it is gone" in m
               for m in messages), messages[-5:]


def test_a_run_of_another_host_that_stopped_reporting_is_failed(
    cluster: Cluster, instance: dg.DagsterInstance, tmp_path: Path
):
    """A CLI process on another machine cannot be looked up from the daemon's host: its run is
    failed once its heartbeat tag (pipelines/launch.py) is older than the launcher allows."""
    marker = tmp_path / "holding-the-slot"
    probe = subprocess.Popen(
        [sys.executable, "-m", "tests.distributed.killed_run_probe", str(marker),
         "another-host"],
        env={**_clean_env(), **cluster.env}, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _eventually("the probe's step started", marker.exists, bound_s=120)
        run_id = marker.read_text()
        failed = _eventually("the daemon failed the silent run", lambda: (
            instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE))
        assert failed
        _eventually("the daemon freed the run's slot", lambda: run_id not in (
            instance.event_log_storage.get_concurrency_info(PROBE_POOL).active_run_ids))
    finally:
        probe.send_signal(signal.SIGKILL)
        probe.wait(timeout=30)
    messages = [entry.message for entry in instance.all_logs(run_id)]
    assert any(f"the city-usage process {probe.pid} on another-host has not reported for" in m
               for m in messages), messages[-5:]
