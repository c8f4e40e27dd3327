"""usage_events and usage_quarantine: landed files to validated, deduplicated curated events.

Thin: the rules live in `usage_model.usage`; this module states the Dagster shape and reports
metadata and checks. The two assets are one graph (daily partitions, one run per backfill):
- `plan_reads` (warehouse pool and queue: it reads the manifest) lists the new and changed
  landed files in CITY_USAGE_READ_STEPS shares, one dynamic output each;
- `read_files`, one step per share, reads and validates its files without the warehouse
  (in distributed mode on any Celery worker of the `dagster` queue) and stores the results
  where every worker reaches them (usage_model/usage/file_reads.py);
- `record_scans` (warehouse pool and queue) records the stored reads in landing order,
  reading itself any file whose stored read is missing or stale, and plans the id index
  update: with CITY_USAGE_FOLD_STEPS one dynamic output per bucket range
  (usage_model/usage/index_folds.py), else it updates the index itself and has none;
- `fold_index_range`, one step per range, folds it without the warehouse (distributed mode:
  any Celery worker of the `dagster` queue);
- `commit_and_build` (warehouse pool and queue) commits the folds in one transaction (folding
  itself any range whose result is unusable or stale) and builds the days.
"""

import uuid
import warnings
from dataclasses import dataclass
from datetime import date
from itertools import chain

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from assets.metadata import OWNERS, add_partition_metadata, curated_day_figures
from assets.resources import READS_IO_MANAGER, CityUsageSettings, ReadsIOManager
from usage_model.config import Settings
from usage_model.reporting import query_markdown
from usage_model.usage import file_reads, id_index, index_folds, ingest, intents
from usage_model.usage.checks import (
    event_quality,
    quarantine_rate,
)
from usage_model.usage.file_reads import ReadTask
from usage_model.usage.index_folds import FoldResult, FoldTask
from usage_model.usage.ingest import ScanResult
from usage_model.warehouse import POOL, WRITER_OP_TAGS


def pending_partitions(
    conn: duckdb.DuckDBPyConnection, partitions_def: dg.PartitionsDefinition, targets: list[str]
) -> set[date]:
    """Days (or month starts) with a pending rebuild intent of `targets` that are partitions
    of `partitions_def`: every run builds them besides its own window."""
    keys = set(partitions_def.get_partition_keys())
    return {d for d in intents.pending(conn, targets) if d.isoformat() in keys}

LANDING = dg.AssetSpec(
    "usage_landing",
    description="Parquet files under landing/usage/ (native or Downcity export shape). "
    "Written by cities' exporters, not by this pipeline.",
    group_name="usage",
    kinds={"parquet"},
    owners=OWNERS,
)

EVENTS = dg.AssetSpec(
    "usage_events",
    deps=[LANDING],
    description="Validated, deduplicated service-call events (Usage Event Model v1): curated "
    "Parquet, one file per day (`curated/events/day=YYYY-MM-DD/`), replaced whole on rebuild.",
    group_name="usage",
    kinds={"parquet", "duckdb"},
    owners=OWNERS,
)
QUARANTINE = dg.AssetSpec(
    "usage_quarantine",
    deps=[LANDING],
    description="Every rejected row or file with its source file, row, event_id and reason "
    "(DuckDB table usage_quarantine). Nothing landed is ever dropped.",
    group_name="usage",
    kinds={"duckdb"},
    owners=OWNERS,
)

CHECKS = [
    dg.AssetCheckSpec("event_id_unique", asset=EVENTS.key, blocking=True,
                      description="No event_id appears twice in the built days."),
    dg.AssetCheckSpec("no_negative_tokens", asset=EVENTS.key, blocking=True,
                      description="Token counts and latency are never negative."),
    dg.AssetCheckSpec("rows_conserved", asset=EVENTS.key, blocking=True,
                      description="Valid rows the manifest holds for the built days = rows "
                      "classified = accepted + identical duplicates + conflicts; rows read = "
                      "valid + quarantined."),
    dg.AssetCheckSpec("quarantine_rate_below_threshold", asset=QUARANTINE.key,
                      description="Quarantined rows / rows read stays under "
                      "CITY_USAGE_QUARANTINE_RATE_MAX (default 5%)."),
]


# Graph outputs: each asset, and each check by Dagster's name for its output.
_ASSET_OUTS = {spec.key.path[-1]: spec for spec in (EVENTS, QUARANTINE)}
_CHECK_OUTS = {spec.get_python_identifier(): spec for spec in CHECKS}
_NOTHING_OUTS = {name: dg.Out(dg.Nothing) for name in [*_ASSET_OUTS, *_CHECK_OUTS]}


@dg.op(ins={"usage_landing": dg.In(dg.Nothing)},
       out=dg.DynamicOut(list[ReadTask], io_manager_key=READS_IO_MANAGER),
       pool=POOL, tags=WRITER_OP_TAGS)
def plan_reads(duckdb: DuckDBResource, settings: CityUsageSettings):
    """The new and changed landed files, in CITY_USAGE_READ_STEPS shares."""
    cfg = settings.get()
    with duckdb.get_connection() as conn:
        shares = file_reads.plan_reads(conn, cfg, cfg.read_steps)
    for number, share in enumerate(shares):
        yield dg.DynamicOutput(share, mapping_key=str(number))


@dg.op(out=dg.Out(list[ReadTask], io_manager_key=READS_IO_MANAGER))
def read_files(context: dg.OpExecutionContext, settings: CityUsageSettings,
               share: list[ReadTask]) -> list[ReadTask]:
    """Read one share of the files and store the results (no warehouse: any worker)."""
    stored = file_reads.read_and_store(settings.get(), share, context.run.run_id)
    context.log.info(f"read {len(stored)} of {len(share)} files")
    return stored


def _remove_spent_reads(context: dg.OpExecutionContext, cfg: Settings) -> None:
    """Delete this run's stored reads (recorded now; its steps' small outputs stay until a
    later run, so this step delivered again still loads its inputs) and everything of runs
    that have ended; a run still going keeps its own."""
    file_reads.remove_reads(cfg, context.run.run_id)
    for run_id in file_reads.stored_runs(cfg):
        run = context.instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            file_reads.remove_run(cfg, run_id)


def _release_ended_plans(context: dg.OpExecutionContext, conn: duckdb.DuckDBPyConnection,
                         cfg: Settings) -> None:
    """Index update plans of runs that ended without committing them: what their folds wrote
    becomes orphans (removed now); a run still going keeps its plan."""
    for plan_id in id_index.in_flight_plans(conn):
        run = context.instance.get_run_by_id(str(uuid.UUID(plan_id)))
        if run is None or run.is_finished:
            index_folds.release(conn, cfg, plan_id)


@dataclass
class RecordedScan:
    """What `record_scans` hands to `commit_and_build` (JSON, through ReadsIOManager)."""

    scan: ScanResult
    stored_reads_unusable: list[str]
    files_read_in_read_steps: int


@dg.op(out={"scan": dg.Out(RecordedScan, io_manager_key=READS_IO_MANAGER),
            "folds": dg.DynamicOut(FoldTask, io_manager_key=READS_IO_MANAGER)},
       pool=POOL, tags=WRITER_OP_TAGS)
def record_scans(context: dg.OpExecutionContext, duckdb: DuckDBResource,
                 settings: CityUsageSettings, stored: list[list[ReadTask]]):
    """Record the landed files (their stored reads, else read here) and plan the index
    update's folds (CITY_USAGE_FOLD_STEPS; otherwise the index is updated here)."""
    cfg = settings.get()
    run_id = context.run.run_id
    pre_read = file_reads.stored_scans(cfg, chain.from_iterable(stored), run_id)
    with duckdb.get_connection() as conn:
        _release_ended_plans(context, conn, cfg)
        scan = ingest.scan_landing(conn, cfg, pre_read=pre_read, index=not cfg.fold_steps)
        tasks = (index_folds.plan(conn, cfg, uuid.UUID(run_id).hex, register=True)
                 if cfg.fold_steps else [])
    _remove_spent_reads(context, cfg)
    context.log.info(f"recorded {len(scan.new_files)} new and {len(scan.changed_files)} "
                     f"changed files; {len(tasks)} index folds")
    yield dg.Output(RecordedScan(scan, pre_read.unusable, sum(len(s) for s in stored)), "scan")
    for task in tasks:
        yield dg.DynamicOutput(task, mapping_key=f"{task.first}_{task.last}",
                               output_name="folds")


@dg.op(out=dg.Out(FoldResult, io_manager_key=READS_IO_MANAGER))
def fold_index_range(context: dg.OpExecutionContext, settings: CityUsageSettings,
                     task: FoldTask) -> FoldResult:
    """Fold one bucket range of the index update (no warehouse: any worker)."""
    result = index_folds.fold(settings.get(), task)
    if result.problem:
        context.log.warning(f"{result.problem}; the warehouse step folds it")
    else:
        context.log.info(f"buckets {task.first}..{task.last}: {len(result.segments or [])} "
                         f"segments, {task.new_rows} new rows")
    return result


def build_usage_events(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.op(out=_NOTHING_OUTS, pool=POOL, tags=WRITER_OP_TAGS)
    def commit_and_build(
        context: dg.AssetExecutionContext, duckdb: DuckDBResource, settings: CityUsageSettings,
        recorded: RecordedScan, folded: list[FoldResult],
    ):
        cfg = settings.get()
        window = [date.fromisoformat(key) for key in context.partition_keys]
        scan = recorded.scan
        with duckdb.get_connection() as conn:
            index_folds.commit(conn, cfg, folded, scan)
            # What this scan, or an earlier run that failed before building, left to rebuild.
            pending = pending_partitions(conn, partitions_def, [intents.EVENTS])
            build = ingest.build_days(conn, cfg, set(window) | pending)
            for problem in scan.problems + build.rescan.problems:
                context.log.warning(problem)
            days = build.days
            quality = event_quality(conn, cfg, days)
            rate = quarantine_rate(conn)
            by_reason = query_markdown(
                conn,
                "SELECT reason, count(*) AS rows_or_files, "
                "coalesce(sum(row_count), 0) AS rows_in_rejected_files "
                "FROM usage_quarantine GROUP BY reason ORDER BY 2 DESC",
            )
        context.log.info(
            f"days {window[0]}..{window[-1]} and {len(days) - len(window)} pending: "
            f"{build.accepted} accepted, "
            f"{build.identical_duplicates} identical duplicates, {build.conflicts} conflicts; "
            f"scan: {len(scan.new_files)} new and {len(scan.changed_files)} changed files"
        )
        figures = curated_day_figures(cfg.events_location(), days)
        add_partition_metadata(context, EVENTS.key, figures)
        yield dg.Output(
            None, "usage_events",
            metadata={
                "dagster/row_count": dg.MetadataValue.int(build.accepted),
                "days": dg.MetadataValue.int(len(days)),
                # Days built besides the run's partitions: pending rebuild intents (a removed
                # or changed file, a moved winner, or a run that failed before building).
                "pending_days_built": dg.MetadataValue.json(
                    sorted(d.isoformat() for d in set(days) - set(window))
                ),
                "files_read": dg.MetadataValue.int(build.files_read),
                "rows_indexed": dg.MetadataValue.int(build.rows_indexed),
                "accepted": dg.MetadataValue.int(build.accepted),
                "identical_duplicates": dg.MetadataValue.int(build.identical_duplicates),
                "duplicate_conflicts": dg.MetadataValue.int(build.conflicts),
                "calls": dg.MetadataValue.int(quality.calls),
                "error_calls": dg.MetadataValue.int(quality.error_calls),
                "error_rate": dg.MetadataValue.float(quality.error_rate),
                "input_tokens": dg.MetadataValue.int(quality.input_tokens),
                "output_tokens": dg.MetadataValue.int(quality.output_tokens),
                "record_errors": dg.MetadataValue.bool(cfg.record_errors),
                "scan_new_files": dg.MetadataValue.int(len(scan.new_files)),
                "scan_changed_files": dg.MetadataValue.int(len(scan.changed_files)),
                "scan_removed_files": dg.MetadataValue.int(len(scan.removed_files)),
                "scan_rows_read": dg.MetadataValue.int(scan.rows_read),
                "scan_rows_quarantined": dg.MetadataValue.int(scan.rows_invalid),
                "files_read_in_read_steps": dg.MetadataValue.int(
                    recorded.files_read_in_read_steps),
                # Reported stored but not usable (gone, unreadable, not validating): read here.
                "stored_reads_unusable": dg.MetadataValue.json(recorded.stored_reads_unusable),
                "rescanned_while_building": dg.MetadataValue.json(
                    build.rescan.new_files + build.rescan.changed_files
                    + build.rescan.removed_files
                ),
                "preview": dg.MetadataValue.md(quality.preview),
            },
        )
        yield dg.Output(
            None, "usage_quarantine",
            metadata={
                "dagster/row_count": dg.MetadataValue.int(rate.quarantine_entries),
                "rows_quarantined_total": dg.MetadataValue.int(rate.rows_quarantined),
                "rows_read_total": dg.MetadataValue.int(rate.rows_read),
                "quarantine_rate": dg.MetadataValue.float(rate.rate),
                "problem_files": dg.MetadataValue.md(
                    "\n".join(f"- {p}" for p in scan.problems + build.rescan.problems)
                    or "none in this run"
                ),
                "by_reason": dg.MetadataValue.md(by_reason),
            },
        )
        yield dg.AssetCheckResult(
            check_name="event_id_unique", asset_key=EVENTS.key,
            passed=quality.duplicate_ids == 0,
            metadata={"duplicate_ids": quality.duplicate_ids},
        )
        yield dg.AssetCheckResult(
            check_name="no_negative_tokens", asset_key=EVENTS.key,
            passed=quality.negative_rows == 0,
            metadata={"negative_rows": quality.negative_rows},
        )
        # Every valid row the manifest holds for the built days was classified, and every
        # classified row is accepted, an identical duplicate or a conflict.
        conserved = (
            build.rows_in_manifest == build.rows_indexed
            and build.rows_indexed
            == build.accepted + build.identical_duplicates + build.conflicts
            and scan.rows_read == scan.rows_valid + scan.rows_invalid
            and quality.calls == build.accepted
        )
        yield dg.AssetCheckResult(
            check_name="rows_conserved", asset_key=EVENTS.key, passed=conserved,
            metadata={
                "rows_in_manifest": build.rows_in_manifest,
                "rows_indexed": build.rows_indexed, "accepted": build.accepted,
                "identical_duplicates": build.identical_duplicates,
                "conflicts": build.conflicts, "events_in_files": quality.calls,
            },
        )
        yield dg.AssetCheckResult(
            check_name="quarantine_rate_below_threshold", asset_key=QUARANTINE.key,
            passed=rate.rate <= cfg.quarantine_rate_max,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"rate": rate.rate, "threshold": cfg.quarantine_rate_max},
        )

    def compose(usage_landing):
        shares = plan_reads(usage_landing)
        recorded, folds = record_scans(shares.map(read_files).collect())
        return commit_and_build(recorded, folds.map(fold_index_range).collect())._asdict()

    with warnings.catch_warnings():
        # `resource_defs` (the asset's own IO manager) is a beta parameter of graph assets.
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.graph_multi_asset(
            name="build_usage_events",
            outs={name: dg.AssetOut.from_spec(spec.replace_attributes(deps=[]),
                                              dagster_type=dg.Nothing)
                  for name, spec in _ASSET_OUTS.items()},
            ins={"usage_landing": dg.AssetIn(key=LANDING.key, dagster_type=dg.Nothing)},
            check_specs=CHECKS,
            group_name=EVENTS.group_name,
            partitions_def=partitions_def,
            backfill_policy=dg.BackfillPolicy.single_run(),
            # Bound here, not in the code location's resources: no other asset uses it.
            resource_defs={READS_IO_MANAGER: ReadsIOManager().get_resource_definition()},
        )(compose)
