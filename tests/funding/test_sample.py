"""The demo's sample Downcity exports and Stripe webhook events: Downcity's current shape,
deterministic, landing with zero rejections, and reconciling to every verdict."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq

from tests.balance_landing import events_folder
from tests.funding.downcity_shapes import COLUMNS
from usage_model.funding import downcity
from usage_model.funding.config import FundingConfig
from usage_model.funding.reconcile import reconcile
from usage_model.funding.report import build_report
from usage_model.funding.sample import write_sample_balance
from usage_model.funding.sync import consume_landed
from usage_model.warehouse import connect

USERS = [f"u-{i:04d}" for i in range(300)]
END = date(2026, 11, 23)
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # the morning after `end`
MS_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def tables(settings) -> dict[str, pa.Table]:
    return {f.parent.parent.name: pq.read_table(f)
            for f in sorted(settings.balance_landing.rglob("*.parquet"))}


def test_sample_exports_are_in_downcitys_current_shape_and_deterministic(settings):
    counts = write_sample_balance(settings.balance_landing, settings.stripe_events_location(),
                                  USERS, seed=7, end=END)
    landed = tables(settings)
    assert set(landed) == set(COLUMNS)
    for name, table in landed.items():
        assert table.column_names == list(COLUMNS[name]), name
        assert table.num_rows == counts[name]
        for f in table.schema:
            assert not f.nullable and table.column(f.name).null_count == 0
            assert f.type == (pa.int64() if f.name in ("credits", "credits_delta",
                                                       "credits_after", "amount_minor")
                              else pa.string())
        for column in ("created_at", "updated_at"):
            if column in table.column_names:
                assert all(MS_Z.fullmatch(v) for v in table.column(column).to_pylist())
    statuses = Counter(landed["topups"].column("status").to_pylist())
    assert set(statuses) == {"paid", "pending", "canceled"}
    kinds = set(landed["ledger"].column("kind").to_pylist())
    assert kinds == {"init", "topup", "charge", "add"}
    assert len(list(events_folder(settings).glob("evt_*.json"))) == counts["stripe_events"]
    write_sample_balance(settings.balance_landing, settings.stripe_events_location(), USERS,
                         seed=7, end=END)
    assert all(tables(settings)[n].equals(t) for n, t in landed.items())
    write_sample_balance(settings.balance_landing, settings.stripe_events_location(), USERS,
                         seed=8, end=END)
    assert not tables(settings)["topups"].equals(landed["topups"])


def test_sample_lands_cleanly_and_shows_every_verdict(settings):
    write_sample_balance(settings.balance_landing, settings.stripe_events_location(), USERS,
                         seed=7, end=END)
    with connect(settings.warehouse) as conn:
        loaded = downcity.load(conn, settings.balance_landing, NOW)
        assert all(r.rejected == 0 and r.loaded == r.rows for r in loaded.values())
        landed = consume_landed(conn, settings.stripe_events_location(), None, now=NOW)
        assert landed.webhook_files_rejected == []
        result = reconcile(conn, FundingConfig(), key_livemode=False, now=NOW)
        verdicts = build_report(conn, FundingConfig(), now=NOW)
        mismatches = conn.execute("SELECT count(*) FROM reconciliation_exceptions WHERE "
                                  "reason = 'account_ledger_mismatch'").fetchall()[0][0]
    assert result.mode == "downcity"
    # The sample's story, counted by hand: 24 ordinary paid topups, then the special cases.
    assert verdicts == {
        "ok": 24,
        "downcity_evidence_only": 2,
        "credited_without_payment": 2,
        "not_credited": 1,
        "double_credit": 1,
        "amount_mismatch": 1,
        "refund_not_reversed": 1,
        "dispute_not_reversed": 1,
        "duplicate_payment": 1,
        "not_paid": 4,  # 3 checkouts still pending at the end, 1 expired
        "stale_pending": 1,
    }
    assert mismatches == 1
