"""Daily summaries and monthly rollups in DuckDB (stable names: docs/tables.md).

Each materialization replaces its partition window, plus the days or months whose curated
events were rebuilt since (pending intents), (delete, insert) and reports
row counts, schema, a preview and the totals the UI plots. A blocking check compares every
summary's totals with the curated events, so exports never read a summary that disagrees.

The four daily tables are one graph (like `build_usage_events`):
- `plan_summary_days` (warehouse pool and queue: it reads the pending intents and each day's
  build generation) splits the run's days into CITY_USAGE_SUMMARY_STEPS shares, one dynamic
  output each (none by default: the commit step then computes every day);
- `compute_summary_days`, one step per share, computes its days without the warehouse (in
  distributed mode on any Celery worker of the `dagster` queue) and stores their rows where
  every worker reaches them (usage_model/usage/summary_exchange.py);
- `commit_summaries` (warehouse pool and queue) replaces the window in one transaction from
  the stored rows, computing itself any day whose stored rows are missing, unusable or older
  than the day's curated file, then reports and checks as before.
"""


from collections.abc import Iterator
from datetime import date
from itertools import chain

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.fanout import fanned_out_asset
from assets.metadata import (
    OWNERS,
    WAREHOUSE_STEP,
    add_partition_metadata,
    day_figures,
    table_metadata,
)
from assets.resources import SUMMARY_DAYS_IO_MANAGER, CityUsageSettings, SummaryDaysIOManager
from assets.usage.assets import EVENTS, pending_partitions
from usage_model.config import Settings
from usage_model.usage import summaries, summary_exchange
from usage_model.usage.summary_exchange import DayTask
from usage_model.warehouse import POOL, WRITER_OP_TAGS

DAILY_DESCRIPTIONS = {
    "usage_daily_by_model": "Calls, tokens, distinct users and cities, p50/p95 latency per "
    "(day, model_id). A null model_id is its own group.",
    "usage_daily_by_city": "Calls, tokens, distinct users, p50/p95 latency per (day, city_id).",
    "usage_daily_by_user": "Calls and tokens per (day, city_id, user_id); null user_id = "
    "anonymous calls.",
    "usage_daily_by_service": "Downcity-style overview: calls per (day, city_id, service, "
    "status).",
}
MONTHLY_DESCRIPTIONS = {
    "usage_monthly_by_model": "Monthly rollup per model_id; distinct counts exact for the month.",
    "usage_monthly_by_city": "Monthly rollup per city_id; distinct users exact for the month.",
    "usage_monthly_by_user": "Monthly rollup per (city_id, user_id).",
}

# How each daily table counts a day's error calls (the service overview keys on status).
DAY_ERRORS = {"usage_daily_by_service": "coalesce(sum(calls) FILTER (WHERE status = 'error'), 0)"}

DAILY_SPECS = {
    name: dg.AssetSpec(
        name, deps=[EVENTS], description=text, group_name="usage",
        kinds={"duckdb", "sql"}, owners=OWNERS,
    )
    for name, text in DAILY_DESCRIPTIONS.items()
}
MONTHLY_SPECS = {
    name: dg.AssetSpec(
        name, deps=[DAILY_SPECS[name.replace("monthly", "daily")]], description=text,
        group_name="usage", kinds={"duckdb", "sql"}, owners=OWNERS,
    )
    for name, text in MONTHLY_DESCRIPTIONS.items()
}


def _totals_check(name: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        "totals_match_events", asset=name, blocking=True,
        description="Calls, error calls and token sums equal those of the curated events.",
    )


def _run_periods(context: dg.AssetExecutionContext, conn, partitions_def: dg.PartitionsDefinition,
                 tables: list[str]) -> set[date]:
    """The run's partitions plus those whose events were rebuilt since (durable intents,
    docs/guarantees.md): every summary run builds them besides its own window."""
    return ({date.fromisoformat(key) for key in context.partition_keys}
            | pending_partitions(conn, partitions_def, tables))


def _summary_asset(name: str, specs: dict[str, dg.AssetSpec],
                   check_specs: list[dg.AssetCheckSpec], partitions_def: dg.PartitionsDefinition,
                   results) -> dg.AssetsDefinition:
    """A summary built in one step: a subsettable multi-asset in the warehouse pool that builds
    its whole partition range in one run (`_run_periods`). `results` builds the selected
    tables and yields their materializations and checks. (The daily tables' steps fan out:
    `build_daily_summaries`.)"""

    @dg.multi_asset(
        name=name, specs=list(specs.values()), check_specs=check_specs,
        partitions_def=partitions_def, backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=True, **WAREHOUSE_STEP,
    )
    def step(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
             settings: CityUsageSettings):
        tables = [k.path[-1] for k in context.selected_asset_keys]
        with duckdb.get_connection() as conn:
            periods = sorted(_run_periods(context, conn, partitions_def, tables))
            yield from results(context, conn, settings.get(), periods, tables)

    return step


def _daily_results(context: dg.AssetExecutionContext, conn, cfg: Settings, days: list[date],
                   tables: list[str], stored: summary_exchange.StoredDays
                   ) -> Iterator[dg.Output | dg.AssetCheckResult]:
    expected = summaries.event_totals(conn, cfg, days)
    for table in tables:
        got = summaries.table_totals(conn, table, days)
        context.log.info(f"{table} days {days[0]}..{days[-1]}: {got.calls} calls, "
                         f"{got.error_calls} errors (run totals; each day's own are "
                         "its partition's metadata)")
        add_partition_metadata(context, table, day_figures(
            conn, table, days, errors=DAY_ERRORS.get(table, "sum(error_calls)")))
        yield dg.Output(
            None, table,
            metadata=table_metadata(
                conn, table, "day IN (SELECT unnest($days::DATE[]))", {"days": days},
                order_by="calls DESC",
                extra={
                    "calls": dg.MetadataValue.int(got.calls),
                    "error_calls": dg.MetadataValue.int(got.error_calls),
                    "error_rate": dg.MetadataValue.float(
                        got.error_calls / got.calls if got.calls else 0.0
                    ),
                    "input_tokens": dg.MetadataValue.int(got.input_tokens),
                    "output_tokens": dg.MetadataValue.int(got.output_tokens),
                    # Days whose rows a compute step stored and this step inserted; the rest
                    # it computed itself (none stored, or unusable: listed with why).
                    "days_from_compute_steps": dg.MetadataValue.int(stored.used),
                    "stored_days_unusable": dg.MetadataValue.json(stored.unusable),
                },
            ),
        )
        yield dg.AssetCheckResult(
            asset_key=table, check_name="totals_match_events",
            passed=(got.calls, got.error_calls, got.input_tokens, got.output_tokens)
            == (expected.calls, expected.error_calls, expected.input_tokens,
                expected.output_tokens),
            metadata={"summary_calls": got.calls, "event_calls": expected.calls,
                      "summary_input_tokens": got.input_tokens,
                      "event_input_tokens": expected.input_tokens},
        )


def _monthly_results(context: dg.AssetExecutionContext, conn, cfg: Settings,
                     periods: list[date], tables: list[str]
                     ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    summaries.build_monthly(conn, cfg, periods, tables)
    for table in tables:
        monthly, daily = summaries.monthly_vs_daily_calls(conn, table, periods)
        yield dg.MaterializeResult(
            asset_key=table,
            metadata=table_metadata(
                conn, table, "period IN (SELECT unnest($p::DATE[]))", {"p": periods},
                order_by="calls DESC", extra={"calls": dg.MetadataValue.int(monthly)},
            ),
        )
        yield dg.AssetCheckResult(
            asset_key=table, check_name="calls_match_daily", passed=monthly == daily,
            metadata={"monthly_calls": monthly, "daily_calls": daily},
        )


_DAILY_CHECKS = [_totals_check(name) for name in DAILY_SPECS]
# The commit step's outputs: each table, and each check by Dagster's name for its output; not
# required, so a run that selects some tables yields only theirs.
_DAILY_OUTS = {name: dg.Out(dg.Nothing, is_required=False)
               for name in [*DAILY_SPECS, *(c.get_python_identifier() for c in _DAILY_CHECKS)]}


@dg.op(out=dg.Out(list[DayTask], io_manager_key=SUMMARY_DAYS_IO_MANAGER))
def compute_summary_days(context: dg.OpExecutionContext, settings: CityUsageSettings,
                         share: list[DayTask]) -> list[DayTask]:
    """Compute one share of the days and store their rows (no warehouse: any worker)."""
    stored = summary_exchange.compute_days(settings.get(), share, context.run.run_id)
    context.log.info(f"computed and stored {len(stored)} of {len(share)} days")
    return stored


def build_daily_summaries(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.op(ins={"usage_events": dg.In(dg.Nothing)},
           out=dg.DynamicOut(list[DayTask], io_manager_key=SUMMARY_DAYS_IO_MANAGER),
           pool=POOL, tags=WRITER_OP_TAGS)
    def plan_summary_days(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                          settings: CityUsageSettings):
        """The run's days, in CITY_USAGE_SUMMARY_STEPS shares (every daily table's pending
        days: a day a subset run does not need costs its computation, never a wrong row)."""
        cfg = settings.get()
        with duckdb.get_connection() as conn:
            days = _run_periods(context, conn, partitions_def, list(DAILY_SPECS))
            shares = summary_exchange.plan_days(conn, days, cfg.summary_steps)
        for number, share in enumerate(shares):
            yield dg.DynamicOutput(share, mapping_key=str(number))

    @dg.op(out=_DAILY_OUTS, pool=POOL, tags=WRITER_OP_TAGS)
    def commit_summaries(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                         settings: CityUsageSettings, computed: list[list[DayTask]]):
        """Replace the selected tables' days in one transaction, from the stored rows where
        they are usable, then report and check them."""
        cfg = settings.get()
        selected = context.op_execution_context.selected_output_names
        tables = [name for name in DAILY_SPECS if name in selected]
        done = list(chain.from_iterable(computed))
        stored = summary_exchange.StoredDays(cfg, context.run.run_id, done)
        with duckdb.get_connection() as conn:
            # Days a compute step did besides: planned as pending, maybe committed since by
            # another run; committing them again is correct (their rows are checked).
            days = sorted(_run_periods(context, conn, partitions_def, tables)
                          | {task.day for task in done})
            summaries.build_daily(conn, cfg, days, tables, stored)
            yield from _daily_results(context, conn, cfg, days, tables, stored)
        summary_exchange.remove_stored(cfg, context.run.run_id)

    return fanned_out_asset(
        name="build_daily_summaries", upstream=EVENTS.key, specs=DAILY_SPECS,
        check_specs=_DAILY_CHECKS, partitions_def=partitions_def, plan=plan_summary_days,
        step=compute_summary_days, commit=commit_summaries,
        io_managers={SUMMARY_DAYS_IO_MANAGER: SummaryDaysIOManager().get_resource_definition()},
        can_subset=True,
    )


def build_monthly_summaries(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    return _summary_asset("build_monthly_summaries", MONTHLY_SPECS, [
        dg.AssetCheckSpec("calls_match_daily", asset=name,
                          description="Monthly calls equal the sum of the month's daily calls.")
        for name in MONTHLY_SPECS
    ], partitions_def, _monthly_results)
