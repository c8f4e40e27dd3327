"""The run launcher of the distributed mode's instance (cluster/dagster.yaml): Dagster's
default launcher, plus the worker health check its run monitoring asks for.

`city-usage` launches its runs itself (pipelines/launch.py) and tags each with its process id
and host. Dagster's default launcher cannot say whether such a run's process still lives, so
the daemon's run monitoring could only fail it at a runtime limit. This launcher answers from
those tags: on the daemon's own host, a run whose process is gone is FAILED, and the daemon
then fails the run and frees its pool slots (free_slots_after_run_end_seconds), as the next
`city-usage` command on that host would. A run of another host is FAILED once its process
has not tagged it alive (pipelines/launch.py, `heartbeat`) for STALE_AFTER_S seconds by this
host's clock (so clocks may differ by up to about STALE_AFTER_S - HEARTBEAT_S). Runs without
the tags (launched from the UI, or by a sensor or schedule of the daemon itself) are
reported RUNNING: only their runtime limit applies.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import dagster as dg

# Not exported by `dagster` itself: the types RunLauncher.check_run_worker_health returns.
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

from pipelines.launch import ALIVE_TAG, HEARTBEAT_S, HOST_TAG, PID_TAG, process_alive

# Eight missed beats (two minutes): a busy orchestrator or a slow database does not fail a
# live run.
STALE_AFTER_S = 8 * HEARTBEAT_S


class CliRunLauncher(dg.DefaultRunLauncher):
    """DefaultRunLauncher whose run monitoring also sees CLI-launched runs."""

    # This host's clock (a test sets its own).
    now: Callable[[], float] = staticmethod(time.time)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        pid = int(run.tags.get(PID_TAG, "0") or 0)
        if not pid:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "not launched by city-usage")
        host = run.tags.get(HOST_TAG)
        if host != socket.gethostname():
            return self._heard_from(run, pid, host)
        if process_alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"the city-usage process {pid} running it is gone")

    def _heard_from(self, run: dg.DagsterRun, pid: int, host: str | None) -> CheckRunHealthResult:
        """A run of another host: alive while its process's heartbeat tag is recent."""
        try:
            beat = float(run.tags[ALIVE_TAG])
        except (KeyError, ValueError):  # launched before heartbeats: only the runtime limit
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no heartbeat tag")
        silent = self.now() - beat
        if silent <= STALE_AFTER_S:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the city-usage process {pid} on {host} has not reported for {silent:.0f} s")
