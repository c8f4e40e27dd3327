"""A small real warehouse for the report: three sample days through the real Dagster assets,
plus funding and charges rows in their real tables."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import dagster as dg
import duckdb
import pytest

from tests.dagster_runs import materialize_days
from tests.environment import CONFIG_VARS
from usage_model.config import Settings
from usage_model.usage.sample import write_sample_landing
from usage_model.warehouse import ensure_schema

FIRST, LAST = date(2026, 5, 16), date(2026, 5, 18)
ARTIFACTS = "tmp/test-artifacts"  # under the repo, ignored by git


def _insert(conn: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    for row in rows:
        names = ", ".join(row)
        marks = ", ".join(f"${k}" for k in row)
        conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", row)


FUNDING = {
    "balances": [
        {"user_id": "u-0001", "unit": "credits", "balance": 12_500_000, "entries": 2,
         "updated_at": "2026-05-18 10:00:00+00"},
        {"user_id": "u-0002", "unit": "credits", "balance": 3_000_000, "entries": 1,
         "updated_at": "2026-05-18 10:00:00+00"},
    ],
    "reconciliation_report": [
        {"report_key": "topup:t1", "row_kind": "topup", "evidence": "stripe",
         "wallet_mode": "downcity", "credits_at_stake": 10_000_000,
         "topup_id": "t1", "user_id": "u-0001", "downcity_status": "paid",
         "downcity_amount": 10_000_000, "stripe_state": "paid", "stripe_amount": 10_000_000,
         "ledger_credits": 10_000_000, "ledger_state": "credited", "verdict": "ok",
         "stale_pending": False, "built_at": "2026-05-18 10:00:00+00"},
        {"report_key": "topup:t2", "row_kind": "topup", "evidence": "downcity_payment",
         "wallet_mode": "downcity", "credits_at_stake": 5_000_000,
         "topup_id": "t2", "user_id": "u-0002", "downcity_status": "paid",
         "downcity_amount": 5_000_000, "stripe_state": "not_seen", "ledger_credits": 0,
         "ledger_state": "none", "verdict": "not_credited", "stale_pending": False,
         "built_at": "2026-05-18 10:00:00+00"},
    ],
    "reconciliation_exceptions": [
        {"reason": "amount_mismatch", "topup_id": "t3", "stripe_object_id": "pi_3",
         "user_id": "u-0003", "detail": "Stripe paid 4,000,000, Downcity says 5,000,000",
         "first_seen_at": "2026-05-17 09:30:00+00"},
    ],
    "charges": [
        {"period": "2026-05-01", "user_id": "u-0001", "city_id": "city-mesa",
         "amount_credits": 1_250_000, "ref": "per_model:1", "hook": "per_model",
         "computed_at": "2026-05-18 10:00:00+00"},
        {"period": "2026-05-01", "user_id": "u-0002", "city_id": "city-lumen",
         "amount_credits": None, "reason": "no_price", "ref": "per_model:2",
         "hook": "per_model", "computed_at": "2026-05-18 10:00:00+00"},
    ],
}


@pytest.fixture(scope="module")
def report_build(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Settings, dg.DagsterInstance]]:
    """Built once per module (three days through Dagster take ~15 s); tests only read it."""
    root = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as patch, dg.DagsterInstance.ephemeral() as instance:
        for var in CONFIG_VARS:
            patch.delenv(var, raising=False)
        patch.setenv("CITY_USAGE_DATA_DIR", str(root / "data"))
        patch.setenv("CITY_USAGE_CONFIG", str(root / "city-usage.yaml"))
        settings = Settings.from_env()
        write_sample_landing(settings.usage_landing, days=3, events_per_day=150, end=LAST)
        assert materialize_days(settings, instance, FIRST, LAST).success
        with duckdb.connect(str(settings.warehouse)) as conn:
            ensure_schema(conn)
            for table, rows in FUNDING.items():
                _insert(conn, table, rows)
        yield settings, instance


@pytest.fixture(scope="module")
def report_warehouse(report_build: tuple[Settings, dg.DagsterInstance]) -> Settings:
    return report_build[0]
