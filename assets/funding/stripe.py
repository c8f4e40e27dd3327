"""Stripe assets: the synced raw objects and the configured payment methods.

Thin: `usage_model.funding` syncs and applies the rules. Without STRIPE_SECRET_KEY the API
pull reports "not configured" and succeeds; webhook events already landed are still consumed.
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.metadata import table_metadata, warehouse_writer
from assets.resources import CityUsageSettings
from usage_model.funding.config import key_livemode
from usage_model.funding.methods import payment_methods as list_payment_methods
from usage_model.funding.methods import write_payment_methods
from usage_model.funding.stripe_api import StripeUnavailable
from usage_model.funding.sync import StripeSource, consume_landed, sync_events
from usage_model.stripe_client import StripeAuthFailed, make_client

NOT_CONFIGURED = "not configured: STRIPE_SECRET_KEY is unset"


class StripeApi(dg.ConfigurableResource):
    """The Stripe API (official SDK, pinned version). Unset key = not configured."""

    secret_key: str | None = None
    api_base: str | None = None

    def source(self) -> StripeSource | None:
        if not self.secret_key:
            return None
        return StripeSource(make_client(self.secret_key, self.api_base or None))

    def livemode(self) -> bool | None:
        return key_livemode(self.secret_key)


@dg.asset(
    name="stripe_objects",
    **warehouse_writer("funding", "stripe"),
    description="Every Stripe object snapshot and event consumed: incremental Events API sync "
    "(or created-window lists on a first/stale sync) plus webhook events landed under "
    "landing/stripe/events/, deduplicated by event id; cursor committed with the data.",
)
def stripe_objects(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                   settings: CityUsageSettings, stripe: StripeApi) -> dg.MaterializeResult:
    config = settings.funding()
    meta: dict[str, object] = {}
    with duckdb.get_connection() as conn:
        try:
            source = stripe.source()  # a malformed key is refused here, in one line
            landed = consume_landed(conn, settings.get().stripe_events_location(), source)
            meta["webhook_events_new"] = dg.MetadataValue.int(landed.webhook_events_new)
            if landed.webhook_files_rejected:
                meta["webhook_files_rejected"] = dg.MetadataValue.md(
                    "\n".join(f"- {line}" for line in landed.webhook_files_rejected))
            if source is None:
                context.log.info(f"Stripe API {NOT_CONFIGURED}")
                meta["stripe_api"] = NOT_CONFIGURED
            else:
                pulled = sync_events(conn, source, config)
                meta.update({
                    "stripe_api": "configured",
                    "sync_mode": pulled.mode,
                    "events_seen": dg.MetadataValue.int(pulled.events_seen),
                    "events_new": dg.MetadataValue.int(pulled.events_new),
                    "objects_listed": dg.MetadataValue.int(pulled.objects_listed),
                    "objects_fetched": dg.MetadataValue.int(pulled.objects_fetched
                                                            + landed.objects_fetched),
                    "snapshots_new": dg.MetadataValue.int(pulled.snapshots_new
                                                          + landed.snapshots_new),
                    "retries": dg.MetadataValue.int(pulled.retries),
                    "cursor": dg.MetadataValue.int(pulled.cursor or 0),
                })
        except (StripeAuthFailed, StripeUnavailable) as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        meta.update(table_metadata(conn, "stripe_objects", order_by="first_seen_at DESC"))
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    name="payment_methods",
    **warehouse_writer("funding"),
    description="Which payment providers are configured and exposed (the equivalent of "
    "guest.service('payment').get('methods')); never a secret.",
)
def payment_methods(duckdb: DuckDBResource, settings: CityUsageSettings,
                    stripe: StripeApi) -> dg.MaterializeResult:
    env = settings.environment()
    rows = list_payment_methods(
        stripe.secret_key, webhook_configured=env.stripe_webhook_secret is not None,
        custom_api_base=bool(stripe.api_base), currencies=sorted(env.funding().credits_per_minor))
    with duckdb.get_connection() as conn:
        write_payment_methods(conn, rows)
        meta = table_metadata(conn, "payment_methods")
    return dg.MaterializeResult(metadata=meta)
