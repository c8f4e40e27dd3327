"""What `city-usage materialize` (and `make demo`) runs: one run per partitions definition.

Daily assets run as one single-run backfill over the day range (BackfillPolicy.single_run),
monthly rollups over the months the range touches, unpartitioned assets once; in the graph's
order. Each run is launched by `pipelines.launch` in the instance `make ui` shows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from assets.usage.sensors import contiguous_ranges, partition_target, pending_rebuilds
from pipelines.launch import launch_run
from usage_model.config import Settings
from usage_model.faults import fault_point

CLI_TAGS = {"city_usage/source": "cli", "city_usage/command": "materialize"}


class MaterializeError(RuntimeError):
    """A run failed; the message names the step and the reason (its first line says it)."""


@dataclass
class PlannedRun:
    label: str
    asset_keys: list[dg.AssetKey]
    partition_key: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    job_name: str = "cli_materialize"
    follow_up: bool = False

    @classmethod
    def over(cls, label: str, keys: list[dg.AssetKey], start: str, end: str,
             job_name: str = "cli_materialize") -> PlannedRun:
        key, tags = partition_target(start, end)
        return cls(label, keys, partition_key=key, tags=tags, job_name=job_name)


@dataclass
class RunOutcome:
    planned: PlannedRun
    run_id: str
    materializations: int
    checks_passed: int
    checks_failed: list[str]


def _keys_in_window(pdef: dg.PartitionsDefinition, start: date, end: date) -> list[str]:
    """Existing partition keys whose time window overlaps the days [start, end]."""
    if not isinstance(pdef, dg.TimeWindowPartitionsDefinition):
        return pdef.get_partition_keys()
    zone = ZoneInfo(pdef.timezone)
    begin = datetime.combine(start, time(), zone)
    finish = datetime.combine(end + timedelta(days=1), time(), zone)
    keys = []
    for key in pdef.get_partition_keys():
        window = pdef.time_window_for_partition_key(key)
        if window.end > begin and window.start < finish:
            keys.append(key)
    return keys


# Unpartitioned assets that read partitioned ones (the report) run after every other run.
READS_PARTITIONED = "unpartitioned, reads partitioned assets"


def _run_group(graph: dg.AssetGraph, node) -> object:
    if node.partitions_def is None and any(
        graph.get(parent).partitions_def is not None for parent in node.parent_keys
    ):
        return READS_PARTITIONED
    return node.partitions_def


def _job_name(group: object) -> str:
    """`cli_daily_assets`, `cli_monthly_assets`, `cli_unpartitioned_assets`, `cli_reports`."""
    if group == READS_PARTITIONED:
        return "cli_reports"
    if isinstance(group, dg.DailyPartitionsDefinition):
        return "cli_daily_assets"
    if isinstance(group, dg.MonthlyPartitionsDefinition):
        return "cli_monthly_assets"
    return "cli_unpartitioned_assets" if group is None else "cli_partitioned_assets"


def _group_rank(group: tuple[object, list[dg.AssetKey]], order: dict) -> tuple[bool, int]:
    return group[0] == READS_PARTITIONED, min(order[k] for k in group[1])


def _groups(graph: dg.AssetGraph, keys: set[dg.AssetKey]) -> dict[object, list[dg.AssetKey]]:
    """Materializable `keys` by run group (partitions definition, or READS_PARTITIONED)."""
    groups: dict[object, list[dg.AssetKey]] = {}
    for key in keys:
        node = graph.get(key)
        if node.is_materializable:
            groups.setdefault(_run_group(graph, node), []).append(key)
    return groups


def job_groups(defs: dg.Definitions) -> dict[str, list[dg.AssetKey]]:
    """Every materializable asset by the name of the job `plan_runs` runs it in."""
    graph = defs.resolve_asset_graph()
    groups = _groups(graph, set(graph.materializable_asset_keys))
    return {_job_name(group): sorted(keys) for group, keys in groups.items()}


def plan_runs(
    defs: dg.Definitions, selection: str | None, start: date | None, end: date | None
) -> list[PlannedRun]:
    graph = defs.resolve_asset_graph()
    chosen = (
        dg.AssetSelection.from_string(selection) if selection else dg.AssetSelection.all()
    ).resolve(graph)
    order = {key: i for i, key in enumerate(graph.toposorted_asset_keys)}
    # A multi-asset that cannot be subset (usage_events with usage_quarantine) runs whole.
    chosen = {k for key in chosen for k in graph.get(key).execution_set_asset_keys}
    groups = _groups(graph, chosen)
    runs = []
    for group, keys in sorted(groups.items(), key=lambda kv: _group_rank(kv, order)):
        pdef = None if group == READS_PARTITIONED else group
        keys = sorted(keys, key=order.__getitem__)
        label = ", ".join(k.to_user_string() for k in keys[:3]) + ("…" if len(keys) > 3 else "")
        job_name = _job_name(group)
        if pdef is None:
            runs.append(PlannedRun(label, keys, job_name=job_name))
            continue
        if start is None or end is None:
            continue  # nothing landed: no partition to build
        window = _keys_in_window(pdef, start, end)
        if not window:
            continue
        span = window[0] if len(window) == 1 else f"{window[0]}..{window[-1]}"
        runs.append(PlannedRun.over(f"{label} [{span}]", keys, window[0], window[-1],
                                    job_name=job_name))
    return runs


def execute(
    defs: dg.Definitions,
    runs: Sequence[PlannedRun],
    instance: dg.DagsterInstance,
    on_start: Callable[[PlannedRun], None] | None = None,
) -> list[RunOutcome]:
    outcomes = []
    queue = list(runs)
    while queue:
        planned = queue.pop(0)
        if on_start:
            on_start(planned)
        # A job named for what it builds, so the UI's run list says it.
        report = launch_run(defs, planned.asset_keys, instance, job_name=planned.job_name,
                            description=f"city-usage materialize: {planned.label}",
                            partition_key=planned.partition_key,
                            tags={**CLI_TAGS, **planned.tags})
        if not report.success:
            raise MaterializeError(report.failure or "run failed")
        fault_point("between_runs")
        queue[:0] = _follow_up_runs(planned, _still_pending(defs, planned))
        outcomes.append(RunOutcome(planned, report.run_id, report.materializations,
                                   report.checks_passed, report.checks_failed))
    return outcomes


def _still_pending(defs: dg.Definitions, planned: PlannedRun) -> set[date]:
    """Partitions of the run's assets the warehouse still owes a rebuild after the run.

    A run builds every pending partition of its assets besides its own, so this is empty
    unless intents were recorded during the run; a warehouse held by another process gives
    nothing here (the intents stay for the next run). A follow-up is not followed again.
    """
    pdef = defs.resolve_asset_graph().get(planned.asset_keys[0]).partitions_def
    if pdef is None or planned.follow_up:
        return set()
    targets = [k.path[-1] for k in planned.asset_keys]
    pending = pending_rebuilds(Settings.from_env(), targets, pdef)
    return pending[0] if pending else set()


def _follow_up_runs(planned: PlannedRun, days: set[date]) -> list[PlannedRun]:
    """Runs for the partitions still owed a rebuild (the same assets)."""
    follow = []
    for start, end in contiguous_ranges(days):
        label = f"{planned.label.split(' [')[0]} [{start}..{end}, pending rebuild]"
        run = PlannedRun.over(label, planned.asset_keys, start.isoformat(), end.isoformat(),
                              job_name=planned.job_name)
        run.follow_up = True
        follow.append(run)
    return follow
