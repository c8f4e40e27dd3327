"""Balance assets: Downcity topups, the ledger, topup states, exceptions, the report.

Thin: the rules live in `usage_model.funding`. `balances` is checked against the ledger sum
on every run.
"""


import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.metadata import OWNERS, table_metadata
from assets.resources import CityUsageSettings
from assets.stripe import StripeApi
from usage_model.funding import downcity
from usage_model.funding.config import FundingConfig
from usage_model.funding.ledger import balance_mismatches
from usage_model.funding.reconcile import reconcile
from usage_model.funding.report import build_report
from usage_model.warehouse import POOL, WRITER_OP_TAGS

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
    group_name="funding",
    kinds={"duckdb"},
    owners=OWNERS,
    pool=POOL,
    op_tags=WRITER_OP_TAGS,
    description="Downcity's exports as landed: downcity_topups, downcity_payments, "
    "downcity_ledger, downcity_accounts, downcity_charges (latest export row per key); "
    "unusable rows and files go to downcity_rejects with a reason.",
)
def downcity_topups(duckdb: DuckDBResource, settings: CityUsageSettings) -> dg.MaterializeResult:
    with duckdb.get_connection() as conn:
        results = downcity.load(conn, settings.get().balance_landing)
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
    pool=POOL,
    op_tags=WRITER_OP_TAGS,
    can_subset=False,
)
def funding_ledger(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                   stripe: StripeApi) -> object:
    config = FundingConfig.from_env()
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
    group_name="funding",
    kinds={"duckdb"},
    owners=OWNERS,
    pool=POOL,
    op_tags=WRITER_OP_TAGS,
    description="One row per topup and per Stripe payment not shown on its topup's row: "
    "Downcity's records, Stripe's state, the wallet's credits, a verdict (ok, "
    "downcity_evidence_only, credited_without_payment, not_credited, double_credit, "
    "amount_mismatch, refund_not_reversed, dispute_not_reversed, ...) and the credits at stake.",
)
def reconciliation_report(duckdb: DuckDBResource) -> dg.MaterializeResult:
    with duckdb.get_connection() as conn:
        verdicts = build_report(conn, FundingConfig.from_env())
        credits = dict(conn.execute("SELECT verdict, sum(credits_at_stake)::BIGINT FROM "
                                    "reconciliation_report GROUP BY verdict").fetchall())
        meta = table_metadata(conn, "reconciliation_report", preview_where="verdict <> 'ok'",
                              extra={**{f"verdict_{k}": dg.MetadataValue.int(v)
                                        for k, v in sorted(verdicts.items())},
                                     **{f"credits_{k}": dg.MetadataValue.int(v)
                                        for k, v in sorted(credits.items())}})
    return dg.MaterializeResult(metadata=meta)


@dg.asset_check(asset="balances", blocking=True,
                description="balances equals the ledger sum per user (and entry count).")
def balances_match_ledger(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        bad = balance_mismatches(conn)
    return dg.AssetCheckResult(
        passed=not bad, metadata={"mismatched_users": dg.MetadataValue.int(len(bad)),
                                  "examples": dg.MetadataValue.md(
                                      "\n".join(f"- {r}" for r in bad[:10]) or "none")})


@dg.asset_check(asset="reconciliation_exceptions",
                description="Warns while any payment is kept uncredited.")
def no_open_exceptions(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        rows = conn.execute("SELECT reason, count(*) FROM reconciliation_exceptions "
                            "GROUP BY reason ORDER BY reason").fetchall()
    return dg.AssetCheckResult(
        passed=not rows, severity=dg.AssetCheckSeverity.WARN,
        metadata={"open_exceptions": dg.MetadataValue.int(sum(n for _, n in rows)),
                  **{f"reason_{r}": dg.MetadataValue.int(n) for r, n in rows}})


FUNDING_ASSETS = [BALANCE_LANDING, downcity_topups, funding_ledger, reconciliation_report]
FUNDING_CHECKS = [balances_match_ledger, no_open_exceptions]
