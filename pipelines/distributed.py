"""Distributed mode: the same runs as embedded, with every step executed by Celery workers
through `dagster-celery` (see docs/scale.md).

Used by `pipelines.materialize` when `CITY_USAGE_EXECUTOR=celery` (as `.cluster/env` sets).
The broker and result backend come from `CITY_USAGE_CELERY_BROKER` and
`CITY_USAGE_CELERY_BACKEND`; the run config refers to those variables by name, so no URL (with
its password) is stored in the run history. DuckDB writers carry the op tag
`dagster-celery/queue: warehouse` and run on the one worker that serves that queue (it owns
the warehouse file); the other steps go to the `dagster` queue.

`defs` here is the code location plus one asset job per partitions group (the jobs the CLI
plans), with the Celery executor as every job's executor: the CLI's runs, and the runs the
cluster's dagster-daemon launches for the sensors and schedules (cluster/up.sh loads this
module as its code location). Workers rebuild a run's job from this module.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_celery import celery_executor

from pipelines.celery_app import BACKEND_ENV, BROKER_ENV, CELERY_SETTINGS

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def executor_config() -> dict[str, Any]:
    """The Celery executor's settings: the broker's and backend's variables by name, not values."""
    return {
        "broker": {"env": BROKER_ENV},
        "backend": {"env": BACKEND_ENV},
        "config_source": CELERY_SETTINGS,
    }


# Every job's executor here: its settings name the broker's and backend's variables, so
# each run (the CLI's, or one a sensor or schedule launched) reads them in its own process.
CELERY_EXECUTOR = celery_executor.configured(executor_config(), name="celery")


def _cli_jobs(defs: dg.Definitions) -> list[dg.UnresolvedAssetJobDefinition]:
    """One job per group of assets the CLI materializes together (the same names as the runs
    `pipelines.materialize` plans)."""
    from pipelines.materialize import job_groups

    return [dg.define_asset_job(name, selection=keys) for name, keys in job_groups(defs).items()]


def _build() -> dg.Definitions:
    from pipelines.definitions import defs as location

    return dg.Definitions.merge(
        location, dg.Definitions(jobs=_cli_jobs(location), executor=CELERY_EXECUTOR))


defs = _build()


def resolved_job(job_name: str) -> dg.JobDefinition:
    """The job named `job_name` of `defs`: what a worker rebuilds from this module."""
    return defs.resolve_job_def(job_name)


def reconstructable_job(job_name: str):
    """The job as workers load it (Dagster's public `build_reconstructable_job`): this
    module's `resolved_job(job_name)`, imported from the project root."""
    return dg.build_reconstructable_job(
        __name__, "resolved_job", reconstructable_args=(job_name,),
        reconstructor_working_directory=str(PROJECT_ROOT),
    )


def execute(
    job_name: str,
    asset_keys: Iterable[dg.AssetKey],
    instance: dg.DagsterInstance,
    tags: Mapping[str, str],
    run_config: Mapping[str, Any],
) -> dg.ExecutionResult:
    """One run of `job_name` over `asset_keys`, its steps on the Celery workers; this process
    orchestrates (it submits each step when its inputs are done and records the events)."""
    with warnings.catch_warnings():
        # dagster-celery registers its step task again for every step it submits; Celery
        # warns each time that the (identical) first registration is kept.
        warnings.filterwarnings("ignore", message="Task name 'execute_plan' is already")
        with dg.execute_job(
            reconstructable_job(job_name),
            instance=instance,
            run_config=dict(run_config),
            tags=dict(tags),
            raise_on_error=False,
            asset_selection=list(asset_keys),
        ) as result:
            return result


@dataclass(frozen=True)
class StepRecord:
    """Where and when a step of a distributed run ran, from the run's event log."""

    step_key: str
    queue: str  # the Celery queue it was submitted to
    worker: str  # the node name of the worker that last ran it, e.g. `w1@host`
    attempts: int  # more than 1 when a worker died with it and it was delivered again
    submitted: float  # when the orchestrator queued it (epoch seconds)
    started: float  # the last STEP_START
    finished: float | None  # its STEP_SUCCESS or STEP_FAILURE
    succeeded: bool
    workers: tuple[str, ...] = ()  # the worker of every attempt, in order (`worker` is last)
    first_started: float = 0.0  # the first attempt's STEP_START


_QUEUE = re.compile(r'to queue "([^"]+)"')


def step_records(instance: dg.DagsterInstance, run_id: str) -> list[StepRecord]:
    """Every step the Celery executor submitted in the run (dagster-celery's engine events
    name the queue and the worker node)."""
    seen: dict[str, dict[str, Any]] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        step = seen.setdefault(event.step_key, {"attempts": 0, "finished": None,
                                                "succeeded": False, "started": 0.0})
        if event.event_type == dg.DagsterEventType.ENGINE_EVENT:
            queue = _QUEUE.search(entry.user_message or "")
            worker = (event.engine_event_data.metadata or {}).get("Celery worker")
            if queue:
                step["queue"] = queue.group(1)
                step.setdefault("submitted", entry.timestamp)
            if worker is not None:
                step["worker"] = worker.value
                step["workers"] = (*step.get("workers", ()), worker.value)
                step["attempts"] += 1
        elif event.event_type == dg.DagsterEventType.STEP_START:
            step["started"] = entry.timestamp
            step.setdefault("first_started", entry.timestamp)
        elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS,
                                  dg.DagsterEventType.STEP_FAILURE):
            step["finished"] = entry.timestamp
            step["succeeded"] = event.event_type == dg.DagsterEventType.STEP_SUCCESS
    return [StepRecord(key, **values) for key, values in seen.items() if "worker" in values]
