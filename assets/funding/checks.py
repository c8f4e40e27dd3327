"""Funding checks: the wallet's balances equal its ledger; open reconciliation exceptions warn."""

from __future__ import annotations

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.metadata import WAREHOUSE_STEP
from usage_model.funding.ledger import balance_mismatches


# They read the warehouse, so they run where it is (the pool, and the warehouse queue).
@dg.asset_check(asset="balances", blocking=True, **WAREHOUSE_STEP,
                description="balances equals the ledger sum per user (and entry count).")
def balances_match_ledger(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        bad = balance_mismatches(conn)
    return dg.AssetCheckResult(
        passed=not bad, metadata={"mismatched_users": dg.MetadataValue.int(len(bad)),
                                  "examples": dg.MetadataValue.md(
                                      "\n".join(f"- {r}" for r in bad[:10]) or "none")})


@dg.asset_check(asset="reconciliation_exceptions", **WAREHOUSE_STEP,
                description="Warns while any payment is kept uncredited.")
def no_open_exceptions(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        rows = conn.execute("SELECT reason, count(*) FROM reconciliation_exceptions "
                            "GROUP BY reason ORDER BY reason").fetchall()
    return dg.AssetCheckResult(
        passed=not rows, severity=dg.AssetCheckSeverity.WARN,
        metadata={"open_exceptions": dg.MetadataValue.int(sum(n for _, n in rows)),
                  **{f"reason_{r}": dg.MetadataValue.int(n) for r, n in rows}})


FUNDING_CHECKS = [balances_match_ledger, no_open_exceptions]
