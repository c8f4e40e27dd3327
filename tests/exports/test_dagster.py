"""Real Dagster runs: charges, balance debits and exports from a config file; blocking checks
gate exports."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from assets.exports.assets import build_export_assets
from assets.resources import CityUsageSettings, WarehouseResource
from tests.exports.helpers import event, write_daily_by_user, write_events
from usage_model.config import Settings
from usage_model.hooks.config import load_config
from usage_model.warehouse import connect

MONTHLY = dg.MonthlyPartitionsDefinition(start_date="2026-01-01")
DAILY = dg.DailyPartitionsDefinition(start_date="2026-01-01")


def _assets(settings: Settings, text: str) -> list[dg.AssetsDefinition]:
    settings.config_file.write_text(text)
    return build_export_assets(load_config(settings.config_file),
                               {"day": DAILY, "month": MONTHLY})


def _resources(settings: Settings) -> dict:
    return {"duckdb": WarehouseResource(database=str(settings.warehouse)),
            "settings": CityUsageSettings()}


def test_charges_debits_and_files_export_in_one_run(
    settings: Settings, dagster_instance: dg.DagsterInstance
) -> None:
    write_events(settings, [event("2026-03-02", "u1"), event("2026-03-09", "u1"),
                            event("2026-03-09", "u2"), event("2026-03-09", None)])
    assets = _assets(settings, """
pricing: {hook: per_call, params: {credits_per_call: 1500}, apply_to_balance: true}
entitlements: {hook: plan_limits, params: {scope: user, unit: calls, included: 1}}
exports:
  charges_files: {sink: files, source: charges, period: month, format: jsonl}
""")
    events_stub = dg.AssetSpec("usage_events", partitions_def=DAILY)
    result = dg.materialize([events_stub, *assets], instance=dagster_instance,
                            resources=_resources(settings), partition_key="2026-03-01",
                            selection=[a.key for a in assets])
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"charges_null_amount_without_reason": True,
                      "charges_duplicate_refs": True, "charges_negative_amounts": True,
                      "entitlement_arithmetic": True}
    with connect(settings.warehouse) as conn:
        ledger = conn.execute("SELECT user_id, kind, amount FROM balance_ledger ORDER BY 1"
                              ).fetchall()
        assert ledger == [("u1", "charge", -3000), ("u2", "charge", -1500)]
        assert conn.execute("SELECT subject_id, used, overage, over_limit FROM "
                            "entitlement_status ORDER BY 1").fetchall() == [
            ("u1", 2, 1, True), ("u2", 1, 0, False)]
        # a rerun debits nothing more; late usage adds exactly one adjustment
        write_events(settings, [event("2026-03-02", "u1"), event("2026-03-09", "u1"),
                                event("2026-03-09", "u1"), event("2026-03-09", "u2")])
    again = dg.materialize([events_stub, *assets], instance=dagster_instance,
                           resources=_resources(settings), partition_key="2026-03-01",
                           selection=[a.key for a in assets])
    assert again.success
    with connect(settings.warehouse) as conn:
        rows = conn.execute("SELECT user_id, sum(amount), count(*) FROM balance_ledger "
                            "GROUP BY 1 ORDER BY 1").fetchall()
        assert rows == [("u1", -4500, 2), ("u2", -1500, 1)]
        assert conn.execute("SELECT user_id, balance FROM balances ORDER BY 1").fetchall() == [
            ("u1", -4500), ("u2", -1500)]
    manifest = settings.exports / "charges_files" / "2026-03-01" / "manifest.json"
    assert '"version": 2' in manifest.read_text() and '"supersedes": 1' in manifest.read_text()


def test_failing_blocking_check_upstream_skips_the_export(
    settings: Settings, dagster_instance: dg.DagsterInstance
) -> None:
    """A stand-in for the foundation's summary asset whose blocking check fails."""
    write_daily_by_user(settings, [("2026-03-05", "c1", "u1", 1, 1, 1)])

    @dg.asset(name="usage_daily_by_user", partitions_def=DAILY,
              check_specs=[dg.AssetCheckSpec("sound", asset="usage_daily_by_user",
                                             blocking=True)])
    def summary():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(check_name="sound", passed=False)

    assets = _assets(settings, "exports:\n  daily: {sink: files, source: usage_daily_by_user}\n")
    result = dg.materialize([summary, *assets], instance=dagster_instance,
                            resources=_resources(settings), partition_key="2026-03-05",
                            raise_on_error=False)
    assert not result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"usage_daily_by_user"}
    assert not (settings.exports / "daily").exists()


def test_invalid_user_hook_output_fails_the_run_with_one_line(
    settings: Settings, dagster_instance: dg.DagsterInstance, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dup_hook.py").write_text(
        "def price(usage, context):\n"
        "    return [{'user_id': 'u', 'city_id': 'c', 'amount_credits': None,\n"
        "             'description': 'x', 'ref': 'same'}] * 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    write_events(settings, [event("2026-03-02", "u1")])
    assets = _assets(settings, "pricing: {hook: 'dup_hook:price'}\nexports:\n"
                               "  c: {sink: files, source: charges, period: month}\n")
    events_stub = dg.AssetSpec("usage_events", partitions_def=DAILY)
    result = dg.materialize([events_stub, *assets], instance=dagster_instance,
                            resources=_resources(settings), partition_key="2026-03-01",
                            selection=[a.key for a in assets], raise_on_error=False)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["charges_duplicate_refs"] is False
    assert checks["charges_null_amount_without_reason"] is False
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"charges"}  # the export was skipped
