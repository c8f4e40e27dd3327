"""How the CLI launches Dagster runs: the one module that talks to the Dagster instance.

`launch_run` executes a set of assets as one run named for what it builds, in the instance
`make ui` shows (`open_instance`), and reports what happened without raising. It uses Dagster's
public APIs: `define_asset_job`, `Definitions.resolve_job_def`,
`JobDefinition.execute_in_process` and its result, `DagsterInstance.get_run_records` and
`report_run_failed`.

One thing Dagster has no public call for: giving back the pool slots of a run whose process
was killed. Dagster itself frees them from its daemon (`run_monitoring:
free_slots_after_run_end_seconds`) or from the UI's "free concurrency slots" button, and both
call the event log storage directly; CLI runs have no daemon, so `reclaim_dead_runs` makes
the same call, here and nowhere else. (In distributed mode a dagster-daemon runs too: its run
monitoring learns from pipelines/run_launcher.py whether a run's process is gone. A process
on another host than the daemon's cannot be looked up there, so while a distributed run goes
on, its process tags it every HEARTBEAT_S seconds with the time, `heartbeat`: a run whose
tag stops moving has lost its process.)
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import dagster as dg

from pipelines.instance import prepare_dagster_home
from usage_model.config import raw

PID_TAG = "city_usage/pid"
HOST_TAG = "city_usage/host"
ALIVE_TAG = "city_usage/alive_at"  # unix seconds, from the launching process's clock
HEARTBEAT_S = 15  # seconds
PARTITION_TAG = "dagster/partition"
# The CLI prints its own progress and one-line failures (docs/event-model.md rule 13);
# Dagster keeps the full logs and tracebacks in the run history, where the UI shows them.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
# A run is "live" in these states; one left there by a dead process is never finished.
_UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,  # the process died after creating the run
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dataclass(frozen=True)
class RunReport:
    """What one launched run did."""

    run_id: str
    success: bool
    failure: str | None = None  # "step <key> failed: <the user code's own message>"
    materializations: int = 0
    checks_passed: int = 0
    checks_failed: list[str] = field(default_factory=list)  # "<asset>:<check>"


def process_tags() -> dict[str, str]:
    """Tags naming this process, so a later process can tell whether the run's owner is gone."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def launch_run(
    defs: dg.Definitions,
    asset_keys: Sequence[dg.AssetKey],
    instance: dg.DagsterInstance,
    *,
    job_name: str,
    description: str,
    partition_key: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> RunReport:
    """Materialize `asset_keys` (with their checks) as one run of a job named `job_name`."""
    run_tags = {**process_tags(), **(tags or {})}
    if distributed():
        # The steps run on the Celery workers; this process orchestrates (docs/scale.md).
        from pipelines import distributed as celery_mode

        if partition_key is not None:
            run_tags[PARTITION_TAG] = partition_key
        run_tags[ALIVE_TAG] = str(int(time.time()))
        with heartbeat(instance):
            result = celery_mode.execute(job_name, asset_keys, instance, run_tags, QUIET_LOGS)
    else:
        # Resolved only here: a distributed run's workers rebuild their own job.
        job = dg.define_asset_job(job_name, selection=list(asset_keys), description=description)
        resolved = dg.Definitions(
            assets=list(defs.assets or []) + list(defs.asset_checks or []),
            jobs=[job],
            resources=defs.resources,
        ).resolve_job_def(job_name)
        result = resolved.execute_in_process(
            instance=instance, partition_key=partition_key, tags=run_tags,
            run_config=QUIET_LOGS, raise_on_error=False,
        )
    checks = result.get_asset_check_evaluations()
    return RunReport(
        run_id=result.run_id,
        success=result.success,
        failure=None if result.success else _failure_line(result),
        materializations=len(result.get_asset_materialization_events()),
        checks_passed=sum(c.passed for c in checks),
        checks_failed=[f"{c.asset_key.to_user_string()}:{c.check_name}"
                       for c in checks if not c.passed],
    )


def mark_alive(instance: dg.DagsterInstance, now: Callable[[], float] = time.time) -> list[str]:
    """Tag this process's unfinished runs with the time (ALIVE_TAG); returns their ids."""
    records = instance.get_run_records(filters=dg.RunsFilter(
        statuses=_UNFINISHED, tags=process_tags()))
    stamp = str(int(now()))
    for record in records:
        # (Dagster keeps the status column authoritative over a run body this rewrites.)
        instance.add_run_tags(record.dagster_run.run_id, {ALIVE_TAG: stamp})
    return [record.dagster_run.run_id for record in records]


@contextmanager
def heartbeat(instance: dg.DagsterInstance, interval_s: float = HEARTBEAT_S) -> Iterator[None]:
    """While the body runs, `mark_alive` every `interval_s` seconds from a daemon thread (a
    failed beat is tried again at the next one: the daemon waits for several to be missed)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval_s):
            try:
                mark_alive(instance)
            except Exception:  # the instance unreachable for a moment: the next beat retries
                continue

    thread = threading.Thread(target=beat, name="city-usage-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def distributed() -> bool:
    """CITY_USAGE_EXECUTOR=celery: runs execute on the Celery workers of the cluster."""
    return (raw("CITY_USAGE_EXECUTOR") or "").strip().lower() == "celery"


def _failure_line(result: dg.ExecutionResult) -> str:
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error.cause is not None:  # the user code's own error, not Dagster's wrapper
            error = error.cause
        # Whole: the CLI cuts it to one line once landed file names in it are escaped.
        text = (error.message or "").strip() or error.cls_name or "failed"
        return f"step {event.step_key} failed: {text}"
    return "run failed"


def process_alive(pid: int) -> bool:
    """Whether the process `pid` of this host exists (a recycled id counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def reclaim_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the unfinished runs of processes on this host that are gone, and give back
    their pool slots; otherwise the next run would wait forever on `duckdb_warehouse`, and a
    run killed before it started would stay NOT_STARTED. Returns the reclaimed run ids."""
    records = instance.get_run_records(filters=dg.RunsFilter(
        statuses=_UNFINISHED, tags={HOST_TAG: socket.gethostname()}))
    reclaimed = []
    for record in records:
        run = record.dagster_run
        pid = int(run.tags.get(PID_TAG, "0"))
        if pid and pid != os.getpid() and not process_alive(pid):
            instance.report_run_failed(
                run, f"the city-usage process {pid} running it is gone; pool slots freed")
            # No public API (see the module docstring): what Dagster's daemon and UI call.
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            reclaimed.append(run.run_id)
    return reclaimed


def open_instance() -> dg.DagsterInstance:
    """The instance `make ui` shows (see pipelines/instance.py), with the runs of dead CLI
    processes reclaimed. Use it as a context manager."""
    home = prepare_dagster_home()
    # The first open of a new instance creates its SQLite tables; several CLI processes
    # started at once must not race on that, so the opening is serialized by a file lock.
    with open(os.path.join(home, ".city-usage-open.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        instance = dg.DagsterInstance.get()
        reclaim_dead_runs(instance)
        return instance
