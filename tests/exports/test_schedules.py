"""Export automation: the daily and monthly schedules exist only with a config, target the
right assets and partition keys, and the requested run delivers the export."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pyarrow.parquet as pq

from assets.exports import definitions as exports_defs
from pipelines.resources import build_resources
from tests.exports.helpers import write_daily_by_user
from usage_model.config import Settings

CONFIG = """
pricing: {hook: per_call, period: month, params: {credits_per_call: 1500}}
entitlements: {hook: plan_limits, period: month, params: {scope: user, unit: calls, included: 1}}
exports:
  daily_files: {sink: files, source: usage_daily_by_user, period: day, format: parquet}
  monthly_charges: {sink: files, source: charges, period: month, format: csv}
"""
UTC = ZoneInfo("UTC")


def _defs(settings: Settings, text: str | None) -> dg.Definitions:
    if text is not None:
        settings.config_file.write_text(text)
    return dg.Definitions.merge(exports_defs.definitions(),
                                dg.Definitions(resources=build_resources()))


def _key(defs: dg.Definitions, name: str, at: datetime) -> str:
    """Evaluate one tick of schedule `name` at `at`; return its run's partition key."""
    schedule = defs.get_schedule_def(name)
    ctx = dg.build_schedule_context(scheduled_execution_time=at,
                                    repository_def=defs.get_repository_def())
    requests = list(schedule.evaluate_tick(ctx).run_requests or [])
    assert len(requests) == 1
    return requests[0].partition_key


def _asset_keys(defs: dg.Definitions, job_name: str) -> set[str]:
    job = defs.resolve_job_def(job_name)
    return {k.to_user_string() for k in job.asset_layer.executable_asset_keys}


def test_no_config_no_schedules(settings: Settings) -> None:
    defs = _defs(settings, None)
    assert not list(defs.schedules or [])


def test_schedules_select_the_assets_of_their_grain(settings: Settings) -> None:
    defs = _defs(settings, CONFIG)
    schedules = {s.name: s for s in defs.schedules}
    assert set(schedules) == {"exports_daily_schedule", "exports_monthly_refresh"}
    daily, monthly = schedules["exports_daily_schedule"], schedules["exports_monthly_refresh"]
    assert (daily.cron_schedule, monthly.cron_schedule) == ("30 1 * * *", "45 1 * * *")
    assert daily.execution_timezone == monthly.execution_timezone == "UTC"
    assert _asset_keys(defs, daily.job_name) == {"export_daily_files"}
    assert _asset_keys(defs, monthly.job_name) == {"charges", "entitlement_status",
                                                   "export_monthly_charges"}


def test_partition_keys_are_yesterday_and_the_month_that_contains_it(settings: Settings) -> None:
    defs = _defs(settings, CONFIG)
    cases = {  # tick time -> (day, month)
        datetime(2026, 3, 15, 1, 30, tzinfo=UTC): ("2026-03-14", "2026-03-01"),
        datetime(2026, 3, 1, 1, 30, tzinfo=UTC): ("2026-02-28", "2026-02-01"),  # closes Feb
        datetime(2026, 1, 1, 1, 45, tzinfo=UTC): ("2025-12-31", "2025-12-01"),
        datetime(2028, 3, 1, 1, 30, tzinfo=UTC): ("2028-02-29", "2028-02-01"),  # leap day
    }
    for at, (day, month) in cases.items():
        assert (_key(defs, "exports_daily_schedule", at),
                _key(defs, "exports_monthly_refresh", at)) == (day, month), at


def test_only_daily_exports_give_only_the_daily_schedule(settings: Settings) -> None:
    defs = _defs(settings, "exports:\n  d: {sink: files, source: usage_daily_by_user, "
                           "period: day, format: csv}\n")
    assert [s.name for s in defs.schedules] == ["exports_daily_schedule"]


def test_the_daily_schedule_run_delivers_yesterday(settings: Settings,
                                                   dagster_instance: dg.DagsterInstance) -> None:
    defs = _defs(settings, CONFIG)
    write_daily_by_user(settings, [(date(2026, 3, 14), "c1", "u1", 3, 30, 10),
                                   (date(2026, 3, 14), "c1", "u2", 1, 5, 2),
                                   (date(2026, 3, 13), "c1", "u1", 9, 90, 30)])
    schedule = defs.get_schedule_def("exports_daily_schedule")
    key = _key(defs, schedule.name, datetime(2026, 3, 15, 1, 30, tzinfo=UTC))
    result = defs.resolve_job_def(schedule.job_name).execute_in_process(
        instance=dagster_instance, partition_key=key)
    assert result.success
    written = sorted((settings.exports / "daily_files").rglob("*.parquet"))
    assert [p.relative_to(settings.exports).parts[1] for p in written] == ["2026-03-14"]
    rows = pq.read_table(written[0]).to_pylist()
    assert sorted((r["user_id"], r["calls"]) for r in rows) == [("u1", 3), ("u2", 1)]
