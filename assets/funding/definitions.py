"""Funding wiring: assets, checks, the funding job, the landed-Stripe-events sensor and the
Stripe resource (from the settings; unset = "not configured", never a load failure)."""

from __future__ import annotations

import dagster as dg

from assets.funding.assets import FUNDING_ASSETS
from assets.funding.checks import FUNDING_CHECKS
from assets.funding.stripe import StripeApi, payment_methods, stripe_objects
from usage_model.config import Environment, Settings
from usage_model.funding.webhook import landed_event_files, new_landed

funding_job = dg.define_asset_job(
    "funding_job",
    selection=dg.AssetSelection.groups("funding"),
    description="Stripe sync (API + landed webhook events), Downcity topups, ledger, balances, "
    "topup states, exceptions and the reconciliation report.",
)


def stripe_resource() -> StripeApi:
    # dg.EnvVar: Dagster resolves the key in the run's process, so its value is never part of
    # the stored run configuration.
    env = Environment.load()
    return StripeApi(
        secret_key=dg.EnvVar("STRIPE_SECRET_KEY") if env.stripe_secret_key else None,
        api_base=dg.EnvVar("STRIPE_API_BASE") if env.stripe_api_base else None)


@dg.sensor(
    name="landed_stripe_events_sensor",
    job=funding_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs the funding job when webhook events land under landing/stripe/events/ "
    "(a folder, or under an s3:// landing), so a paid topup is credited within a minute. "
    "Cursor: the names landed in the last five minutes of landing times.",
)
def landed_stripe_events_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    files = landed_event_files(Settings.from_env().stripe_events_location())
    new, cursor = new_landed(files, context.cursor)
    if not new:
        return dg.SensorResult(skip_reason="no new landed Stripe events", cursor=cursor)
    top = max(new, key=lambda f: (f.mtime_ns, f.base_name))  # a file is new once: unique
    return dg.SensorResult(run_requests=[dg.RunRequest(
        run_key=f"{top.mtime_ns}|{top.base_name}",
        tags={"city_usage/landed_stripe_events": str(len(new))})], cursor=cursor)


def definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=[*FUNDING_ASSETS, stripe_objects, payment_methods],
        asset_checks=FUNDING_CHECKS,
        jobs=[funding_job],
        sensors=[landed_stripe_events_sensor],
        resources={"stripe": stripe_resource()},
    )
