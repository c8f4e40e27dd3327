"""Hooks and billing exports as Dagster assets, built from the validated city-usage.yaml.

- `charges` (pricing hook) and `entitlement_status` (entitlement hook), per period, with
  blocking checks: an unsound charge table never reaches an export or the balance.
- `charge_debits` (only with `apply_to_balance: true`): charges debited into balance_ledger.
- one `export_<name>` asset per configured sink, depending on its source asset, so it shows
  in the lineage and Dagster skips it when a blocking check on its input fails.
Thin: the rules live in `usage_model.hooks` and `usage_model.exports`. (No `from __future__
import annotations`: Dagster reads the `context` annotation of these nested functions.)
"""


from collections.abc import Callable, Iterator, Mapping

import dagster as dg
import duckdb
from dagster import AssetExecutionContext
from dagster_duckdb import DuckDBResource

from assets.metadata import OWNERS, WAREHOUSE_STEP, table_metadata
from assets.resources import CityUsageSettings
from usage_model.config import Settings
from usage_model.exports.factory import make_sink
from usage_model.exports.runner import run_export
from usage_model.exports.sinks import DeliveryFailed
from usage_model.hooks.config import CityUsageConfig, ExportConfig, HookConfig
from usage_model.hooks.protocol import HookResultError, Period
from usage_model.hooks.run import HookRun, build_charges, build_entitlements, charge_problems

EVENTS_KEY = dg.AssetKey("usage_events")
SINK_KINDS = {
    "files": None,  # the file format names the kind
    "webhook": "webhook",
    "stripe_meter_events": "stripe",
    "python": "python",
}
CHARGE_CHECKS = {
    "null_amount_without_reason": "Every charge without an amount says why (reason).",
    "duplicate_refs": "Charge refs are unique: each is debited and billed at most once.",
    "negative_amounts": "No charge is negative (credits go through funding, not pricing).",
}


def _hook_asset(name: str, check_specs: list[dg.AssetCheckSpec],
                partitions: dg.PartitionsDefinition, description: str):
    """A hook's table: built from the curated events in the warehouse pool, one run per range."""
    return dg.asset(
        name=name, deps=[EVENTS_KEY], partitions_def=partitions, check_specs=check_specs,
        **WAREHOUSE_STEP, backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="exports",
        kinds={"duckdb", "python"}, owners=OWNERS, description=description,
    )


def _charges_asset(pricing: HookConfig, partitions: dg.PartitionsDefinition
                   ) -> dg.AssetsDefinition:
    specs = [
        dg.AssetCheckSpec(f"charges_{name}", asset="charges", blocking=True, description=text)
        for name, text in CHARGE_CHECKS.items()
    ]

    @_hook_asset(
        "charges", specs, partitions,
        f"Charges from the pricing hook `{pricing.hook_name}` per {pricing.period}: "
        "user_id, city_id, period, amount_credits (integer credits; null with a reason when "
        "usage cannot be priced), description, ref.",
    )
    def charges(context: AssetExecutionContext, duckdb: DuckDBResource,
                settings: CityUsageSettings):
        cfg = settings.get()
        periods = _periods(context, pricing.period)
        amounts, lines, groups = [], 0, 0
        problems: dict[str, int] = dict.fromkeys(CHARGE_CHECKS, 0)
        with duckdb.get_connection() as conn:
            for period, run in _hook_runs(conn, build_charges, pricing, periods, cfg):
                column = run.table.column("amount_credits").to_pylist()
                amounts += [a for a in column if a is not None]
                lines, groups = lines + len(column), groups + run.usage_rows
                for name, count in charge_problems(conn, period).items():
                    problems[name] = max(problems[name], count)
            meta = table_metadata(
                conn, "charges", "period >= $a AND period <= $b",
                {"a": periods[0].start, "b": periods[-1].start}, order_by="ref",
                extra={
                    "total_credits": dg.MetadataValue.int(sum(amounts)),
                    "unpriced_lines": dg.MetadataValue.int(lines - len(amounts)),
                    "usage_groups": dg.MetadataValue.int(groups),
                    "grain": ", ".join(run.grain),
                },
            )
        yield dg.MaterializeResult(metadata=meta)
        for name, count in problems.items():
            yield dg.AssetCheckResult(check_name=f"charges_{name}", asset_key="charges",
                                      passed=count == 0, metadata={"offending": count})

    return charges


def _hook_runs(conn: duckdb.DuckDBPyConnection, build: Callable[..., HookRun], hook: HookConfig,
               periods: list[Period], cfg: Settings) -> Iterator[tuple[Period, HookRun]]:
    """Run a hook period by period; a hook's bad result fails the step with one line naming
    the period (the rows of earlier periods stay committed: each period is replaced whole)."""
    for period in periods:
        try:
            yield period, build(conn, hook, period, cfg.events_location(),
                                record_errors=cfg.record_errors)
        except HookResultError as exc:
            raise dg.Failure(description=f"{period.key}: {exc}") from None


def _entitlements_asset(hook: HookConfig, partitions: dg.PartitionsDefinition
                        ) -> dg.AssetsDefinition:
    @_hook_asset(
        "entitlement_status",
        [dg.AssetCheckSpec(
            "entitlement_arithmetic", asset="entitlement_status", blocking=True,
            description="remaining = max(0, included - used), overage = max(0, used - included).",
        )],
        partitions,
        f"Plan limits from the entitlement hook `{hook.hook_name}` per "
        f"{hook.period}: included, used, remaining, overage, over_limit per user or city.",
    )
    def entitlement_status(context: AssetExecutionContext, duckdb: DuckDBResource,
                           settings: CityUsageSettings):
        cfg = settings.get()
        periods = _periods(context, hook.period)
        rows: list[dict] = []
        with duckdb.get_connection() as conn:
            for _period, run in _hook_runs(conn, build_entitlements, hook, periods, cfg):
                rows += run.table.to_pylist()
            over = sum(r["over_limit"] for r in rows)
            meta = table_metadata(
                conn, "entitlement_status", "period >= $a AND period <= $b",
                {"a": periods[0].start, "b": periods[-1].start}, order_by="scope, subject_id",
                extra={"over_limit": dg.MetadataValue.int(over)},
            )
        bad = [
            r for r in rows
            if r["remaining"] != max(0, r["included"] - r["used"])
            or r["overage"] != max(0, r["used"] - r["included"])
        ]
        yield dg.MaterializeResult(metadata=meta)
        yield dg.AssetCheckResult(check_name="entitlement_arithmetic",
                                  asset_key="entitlement_status", passed=not bad,
                                  metadata={"offending": len(bad)})

    return entitlement_status


def _charge_debits_asset(pricing: HookConfig, partitions: dg.PartitionsDefinition
                         ) -> dg.AssetsDefinition:
    @dg.asset(
        name="charge_debits",
        deps=["charges"],
        partitions_def=partitions,
        **WAREHOUSE_STEP,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="exports",
        kinds={"duckdb"},
        owners=OWNERS,
        description="Charges debited into balance_ledger (kind=charge, negative amount), once "
        "per charge ref; a changed charge is settled by one adjustment entry.",
    )
    def charge_debits(context: AssetExecutionContext, duckdb: DuckDBResource):
        from usage_model.hooks.balance import debit_charges

        with duckdb.get_connection() as conn:
            results = [debit_charges(conn, p) for p in _periods(context, pricing.period)]
        return dg.MaterializeResult(metadata={
            "entries_appended": dg.MetadataValue.int(sum(r.appended for r in results)),
            "debited_credits": dg.MetadataValue.int(sum(r.debited_credits for r in results)),
            "skipped_unpriced": dg.MetadataValue.int(sum(r.skipped_unpriced for r in results)),
        })

    return charge_debits


def _export_asset(export: ExportConfig, partitions: dg.PartitionsDefinition
                  ) -> dg.AssetsDefinition:
    kind = SINK_KINDS[export.sink] or getattr(export, "format", "")

    @dg.asset(
        name=f"export_{export.name}",
        deps=[dg.AssetKey(export.source)],
        partitions_def=partitions,
        **WAREHOUSE_STEP,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="exports",
        kinds={kind, "duckdb"},
        owners=OWNERS,
        tags={"city_usage/sink": export.sink},
        description=f"Export `{export.name}`: {export.source} per {export.period} to the "
        f"{export.sink} sink. Each change makes a new version, delivered once "
        "(see export_ledger).",
    )
    def export_asset(context: AssetExecutionContext, duckdb: DuckDBResource,
                     settings: CityUsageSettings) -> dg.MaterializeResult:
        cfg = settings.get()
        outcomes = []
        with duckdb.get_connection() as conn:
            setup = make_sink(export, cfg, conn)
            if setup.sink is None:
                context.log.warning(f"export {export.name}: {setup.reason}")
                return dg.MaterializeResult(metadata={"status": "not_configured",
                                                      "reason": setup.reason or ""})
            for period in _periods(context, export.period):
                try:
                    outcomes.append(run_export(conn, export, period, setup.sink,
                                               diff=setup.diff))
                except DeliveryFailed as exc:
                    raise dg.Failure(description=str(exc)) from None
        delivered = [f"{o.period} v{v}" for o in outcomes
                     for v in o.resent_pending + o.versions_delivered]
        return dg.MaterializeResult(metadata={
            "periods": dg.MetadataValue.int(len(outcomes)),
            "versions_delivered": dg.MetadataValue.int(len(delivered)),
            "delivered": ", ".join(delivered)[:2000] or "none (up to date)",
            "rows_delivered": dg.MetadataValue.int(sum(o.rows_delivered for o in outcomes)),
            "source_rows": dg.MetadataValue.int(sum(o.source_rows for o in outcomes)),
            "ledger": dg.MetadataValue.md(_outcomes_markdown(outcomes)),
        })

    return export_asset


def _periods(context: AssetExecutionContext, grain: str) -> list[Period]:
    """The run's periods: one partition or a range (a single-run backfill)."""
    return [Period.from_key(grain, key) for key in context.partition_keys]


def _outcomes_markdown(outcomes: list) -> str:
    lines = ["| period | status | versions | resent | rows | sha256 |", "|---|---|---|---|---|---|"]
    for o in outcomes[:60]:
        lines.append(f"| {o.period} | {o.status} | {o.versions_delivered or '-'} | "
                     f"{o.resent_pending or '-'} | {o.rows_delivered} | "
                     f"{o.content_sha256[:12]} |")
    return "\n".join(lines)


def build_export_assets(
    config: CityUsageConfig, partitions: Mapping[str, dg.PartitionsDefinition]
) -> list[dg.AssetsDefinition]:
    """All hook and export assets for a validated config; `partitions` by period name."""
    out: list[dg.AssetsDefinition] = []
    if config.pricing is not None:
        out.append(_charges_asset(config.pricing, partitions[config.pricing.period]))
        if config.pricing.apply_to_balance:
            out.append(_charge_debits_asset(config.pricing, partitions[config.pricing.period]))
    if config.entitlements is not None:
        out.append(_entitlements_asset(config.entitlements,
                                       partitions[config.entitlements.period]))
    out.extend(_export_asset(e, partitions[e.period]) for e in config.exports.values())
    return out
