"""Hooks and exports: built from city-usage.yaml (CITY_USAGE_CONFIG, default ./city-usage.yaml).

The file is validated here, when the definitions load: an invalid file stops the code
location with one line naming the file and the key; an absent file means no hooks, no
exports and no schedules.

Automation (in CITY_USAGE_TIMEZONE, after the usage schedules at 00:20 and 00:40 have built
yesterday's summaries): `exports_daily_schedule` materializes every day-partitioned hook and
export asset for yesterday at 01:30; `exports_monthly_refresh` refreshes every month-partitioned
one (charges, entitlement_status, charge_debits, monthly exports) at 01:45 for the month that
contains yesterday, so the 1st of a month closes the previous month. Unchanged data delivers
nothing again (each export version is delivered once). Like the usage schedules they start
stopped; turn them on in the UI or with `dagster schedule start`.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from assets.exports.assets import build_export_assets
from assets.schedules import MONTH_OF_DAY, yesterday_schedule
from assets.usage.partitions import partitions
from usage_model.config import Settings
from usage_model.hooks.config import load_config

DAILY_JOB = "exports_daily_job"
MONTHLY_JOB = "exports_monthly_job"


def _job(name: str, assets: Sequence[dg.AssetsDefinition], grain: str
         ) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name, selection=dg.AssetSelection.assets(*assets),
        description=f"Every {grain}-partitioned hook and export asset of city-usage.yaml, for "
        f"one {grain} or a range.")


def exports_daily_schedule(job: dg.UnresolvedAssetJobDefinition, timezone: str
                           ) -> dg.ScheduleDefinition:
    return yesterday_schedule(
        "exports_daily_schedule", job, "30 1 * * *", timezone,
        "Yesterday's day-partitioned charges, entitlements and exports, daily at 01:30 (after "
        "the usage schedules built yesterday's summaries).")


def exports_monthly_refresh(job: dg.UnresolvedAssetJobDefinition, timezone: str
                            ) -> dg.ScheduleDefinition:
    return yesterday_schedule(
        "exports_monthly_refresh", job, "45 1 * * *", timezone,
        "Daily refresh of the month-partitioned charges, entitlements and exports for the month "
        "that contains yesterday (on the 1st: the month just closed).", MONTH_OF_DAY)


def definitions() -> dg.Definitions:
    settings = Settings.from_env()
    config = load_config(settings.config_file)
    if config is None:
        return dg.Definitions()
    daily_partitions, monthly_partitions = partitions(settings)
    assets = build_export_assets(config, {"day": daily_partitions, "month": monthly_partitions})
    daily = [a for a in assets if a.partitions_def == daily_partitions]
    monthly = [a for a in assets if a.partitions_def == monthly_partitions]
    jobs, schedules = [], []
    if daily:
        jobs.append(_job(DAILY_JOB, daily, "day"))
        schedules.append(exports_daily_schedule(jobs[-1], settings.timezone))
    if monthly:
        jobs.append(_job(MONTHLY_JOB, monthly, "month"))
        schedules.append(exports_monthly_refresh(jobs[-1], settings.timezone))
    return dg.Definitions(assets=assets, jobs=jobs, schedules=schedules)
