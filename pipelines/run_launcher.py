"""The run launcher of the distributed mode's instance (cluster/dagster.yaml): Dagster's
default launcher, plus the worker health check its run monitoring asks for.

`city-usage` launches its runs itself (pipelines/launch.py) and tags each with its process id
and host. Dagster's default launcher cannot say whether such a run's process still lives, so
the daemon's run monitoring could only fail it at a runtime limit. This launcher answers from
those tags: on the daemon's own host, a run whose process is gone is FAILED, and the daemon
then fails the run and frees its pool slots (free_slots_after_run_end_seconds), as the next
`city-usage` command on that host would. Runs of another host, or without the tags (launched
from the UI), are reported RUNNING: only their runtime limit applies.
"""

from __future__ import annotations

import socket

import dagster as dg

# Not exported by `dagster` itself: the types RunLauncher.check_run_worker_health returns.
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

from pipelines.launch import HOST_TAG, PID_TAG, process_alive


class CliRunLauncher(dg.DefaultRunLauncher):
    """DefaultRunLauncher whose run monitoring also sees CLI-launched runs on this host."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        pid = int(run.tags.get(PID_TAG, "0") or 0)
        if not pid or run.tags.get(HOST_TAG) != socket.gethostname():
            return CheckRunHealthResult(WorkerStatus.RUNNING, "not a process of this host")
        if process_alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"the city-usage process {pid} running it is gone")
