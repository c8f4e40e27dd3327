"""Funding assets: Downcity topups, the wallet (ledger, balances, topup states, exceptions)
and the reconciliation report.

Thin: the rules live in `usage_model.funding`; the checks on them are in `checks.py`.
"""


import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.funding.stripe import StripeApi
from assets.metadata import OWNERS, WAREHOUSE_STEP, table_metadata, warehouse_writer
from assets.resources import CityUsageSettings
from usage_model.funding import downcity
from usage_model.funding.reconcile import reconcile
from usage_model.funding.report import build_report

BALANCE_LANDING = dg.AssetSpec(
    "balance_landing",
    description="Downcity exports under landing/balance/{topups,payments,ledger,accounts,"
    "charges}/ (service_balance_topups, service_payment_payments, service_balance_ledger, "
    "service_balance_accounts, service_balance_charges) as Parquet. Written by Downcity, not "
    "by this pipeline.",
    group_name="funding",
    kinds={"parquet"},
    owners=OWNERS,
)


@dg.asset(
    name="downcity_topups",
    deps=[BALANCE_LANDING],
    **warehouse_writer("funding"),
    description="Downcity's exports as landed: downcity_topups, downcity_payments, "
    "downcity_ledger, downcity_accounts, downcity_charges (latest export row per key); "
    "unusable rows and files go to downcity_rejects with a reason.",
)
def downcity_topups(duckdb: DuckDBResource, settings: CityUsageSettings) -> dg.MaterializeResult:
    with duckdb.get_connection() as conn:
        results = downcity.load(conn, settings.get().balance_landing_location())
        extra = {f"{name}_{field}": dg.MetadataValue.int(getattr(r, field))
                 for name, r in results.items() for field in ("files", "rows", "rejected")}
        meta = table_metadata(conn, "downcity_topups", extra=extra)
    return dg.MaterializeResult(metadata=meta)


@dg.multi_asset(
    specs=[
        dg.AssetSpec("balance_ledger", group_name="funding", kinds={"duckdb"}, owners=OWNERS,
                     deps=["downcity_topups", "stripe_objects"],
                     description="The wallet of record. downcity mode (Downcity's ledger "
                     "landed): an entry-for-entry mirror of service_balance_ledger. standalone "
                     "mode: append-only, derived from Stripe; ref unique: one credit per topup, "
                     "one entry per refund/dispute movement. See the funding_mode table."),
        dg.AssetSpec("balances", group_name="funding", kinds={"duckdb"}, owners=OWNERS,
                     deps=["balance_ledger"],
                     description="Balance per user = the ledger sum (checked every run); "
                     "metadata wallet_mode says which ledger is of record."),
        dg.AssetSpec("topups", group_name="funding", kinds={"duckdb"}, owners=OWNERS,
                     deps=["downcity_topups", "stripe_objects"],
                     description="Each topup's current state (pending, paid, cancelled, "
                     "refunded, partially_refunded, disputed, failed) and its Stripe ids."),
        dg.AssetSpec("reconciliation_exceptions", group_name="funding", kinds={"duckdb"},
                     owners=OWNERS, deps=["stripe_objects"],
                     description="Payments kept uncredited, with a reason (amount_mismatch, "
                     "currency_mismatch, unsupported_currency, missing_topup_reference, "
                     "duplicate_payment, livemode_mismatch), and Downcity accounts whose credits "
                     "differ from Downcity's own ledger sum (account_ledger_mismatch)."),
    ],
    **WAREHOUSE_STEP,
    can_subset=False,
)
def build_wallet_and_topups(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                            settings: CityUsageSettings, stripe: StripeApi) -> object:
    """balance_ledger, balances, topups and reconciliation_exceptions: one reconciliation
    pass writes all four together, so a topup's state, its credit and its exception never
    disagree (the step cannot be subset)."""
    config = settings.funding()
    with duckdb.get_connection() as conn:
        result = reconcile(conn, config, stripe.livemode())
        mode, reason = conn.execute("SELECT mode, reason FROM funding_mode").fetchall()[0]
        context.log.info(f"wallet of record: {mode} ({reason}); ledger entries inserted: "
                         f"{result.entries_inserted}, mirrored: {result.mirrored_entries}")
        wallet = {"wallet_mode": dg.MetadataValue.text(mode),
                  "wallet_mode_reason": dg.MetadataValue.text(reason)}
        yield dg.MaterializeResult(asset_key="balance_ledger", metadata=table_metadata(
            conn, "balance_ledger", order_by="seq DESC",
            extra={**wallet,
                   "entries_inserted": dg.MetadataValue.int(result.entries_inserted),
                   "entries_mirrored": dg.MetadataValue.int(result.mirrored_entries)}))
        negative = conn.execute("SELECT count(*) FROM balances WHERE balance < 0").fetchone()[0]
        yield dg.MaterializeResult(asset_key="balances", metadata=table_metadata(
            conn, "balances", order_by="balance",
            extra={**wallet, "negative_balances": dg.MetadataValue.int(negative)}))
        yield dg.MaterializeResult(asset_key="topups", metadata=table_metadata(
            conn, "topups", extra={f"state_{k}": dg.MetadataValue.int(v)
                                   for k, v in sorted(result.topup_states.items())}))
        yield dg.MaterializeResult(asset_key="reconciliation_exceptions", metadata=table_metadata(
            conn, "reconciliation_exceptions", extra={
                f"reason_{k}": dg.MetadataValue.int(v) for k, v in sorted(
                    result.exceptions.items())}))


@dg.asset(
    name="reconciliation_report",
    deps=["topups", "balances", "reconciliation_exceptions"],
    **warehouse_writer("funding"),
    description="One row per topup and per Stripe payment not shown on its topup's row: "
    "Downcity's records, Stripe's state, the wallet's credits, a verdict (ok, "
    "downcity_evidence_only, credited_without_payment, not_credited, double_credit, "
    "amount_mismatch, refund_not_reversed, dispute_not_reversed, ...) and the credits at stake.",
)
def reconciliation_report(duckdb: DuckDBResource,
                          settings: CityUsageSettings) -> dg.MaterializeResult:
    with duckdb.get_connection() as conn:
        verdicts = build_report(conn, settings.funding())
        credits = dict(conn.execute("SELECT verdict, sum(credits_at_stake)::BIGINT FROM "
                                    "reconciliation_report GROUP BY verdict").fetchall())
        meta = table_metadata(conn, "reconciliation_report", preview_where="verdict <> 'ok'",
                              extra={**{f"verdict_{k}": dg.MetadataValue.int(v)
                                        for k, v in sorted(verdicts.items())},
                                     **{f"credits_{k}": dg.MetadataValue.int(v)
                                        for k, v in sorted(credits.items())}})
    return dg.MaterializeResult(metadata=meta)


FUNDING_ASSETS = [BALANCE_LANDING, downcity_topups, build_wallet_and_topups,
                  reconciliation_report]
