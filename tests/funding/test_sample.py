"""The demo's sample Downcity topups: a real export that loads cleanly and reconciles as the
funding rules say (no Stripe evidence -> nothing credited; the stale pending is flagged)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

import pyarrow.parquet as pq

from usage_model.funding import downcity
from usage_model.funding.config import FundingConfig
from usage_model.funding.reconcile import build_report, reconcile
from usage_model.funding.sample import write_sample_topups
from usage_model.warehouse import connect

USERS = [f"u-{i:04d}" for i in range(300)]
END = date(2026, 11, 23)


def test_sample_export_is_downcity_shaped_and_deterministic(settings):
    n = write_sample_topups(settings.balance_landing, USERS, seed=7, end=END)
    files = sorted((settings.balance_landing / "topups").rglob("*.parquet"))
    assert [f.relative_to(settings.balance_landing).as_posix() for f in files] == [
        "topups/dt=2026-11-23/service_balance_topups.parquet"]
    table = pq.read_table(files[0])
    assert table.num_rows == n and 24 <= n <= 60
    assert set(table.column_names) >= {"topup_id", "user_id", "amount", "unit", "status",
                                       "created_at", "updated_at"}
    rows = table.to_pylist()
    assert len({r["topup_id"] for r in rows}) == n
    assert {r["user_id"] for r in rows} <= set(USERS)
    for r in rows:  # credits = USD cents x 10,000, whole cents, positive
        assert isinstance(r["amount"], int) and r["amount"] > 0
        assert r["amount"] % 10_000 == 0 and r["unit"] == "credits"
    statuses = Counter(r["status"] for r in rows)
    assert statuses["paid"] > n / 2 and statuses["pending"] >= 2 and set(statuses) <= {
        "paid", "pending", "cancelled"}
    write_sample_topups(settings.balance_landing, USERS, seed=7, end=END)
    assert pq.read_table(files[0]).equals(table)
    write_sample_topups(settings.balance_landing, USERS, seed=8, end=END)
    assert not pq.read_table(files[0]).equals(table)


def test_sample_reconciles_without_stripe_credits_nothing_and_flags_the_stale_pending(settings):
    write_sample_topups(settings.balance_landing, USERS, seed=7, end=END)
    rows = pq.read_table(next((settings.balance_landing / "topups").rglob("*.parquet"))
                         ).to_pylist()
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # the morning after `end`
    day = 86_400
    old = {r["topup_id"] for r in rows if (now - r["created_at"]).total_seconds() > day}
    stale_pending = {r["topup_id"] for r in rows if r["status"] == "pending"} & old
    assert len(stale_pending) == 1
    # not credited (no Stripe evidence) and older than the threshold: the stale flag is on
    uncredited_old = {r["topup_id"] for r in rows if r["status"] != "cancelled"} & old
    with connect(settings.warehouse) as conn:
        loaded = downcity.load(conn, settings.balance_landing)["topups"]
        assert (loaded.rows, loaded.loaded, loaded.rejected) == (len(rows), len(rows), 0)
        result = reconcile(conn, FundingConfig(), key_livemode=None, now=now)
        build_report(conn, FundingConfig(), now=now)
        assert result.entries_inserted == 0
        assert conn.execute("SELECT count(*) FROM balance_ledger").fetchone() == (0,)
        report = {r[0]: r[1:] for r in conn.execute(
            "SELECT topup_id, downcity_status, stripe_state, ledger_credits, verdict, "
            "stale_pending FROM reconciliation_report").fetchall()}
    assert set(report) == {r["topup_id"] for r in rows}
    for r in rows:
        status, stripe_state, credits, verdict, stale = report[r["topup_id"]]
        assert (status, stripe_state, credits) == (r["status"], "not_seen", 0)
        assert stale is (r["topup_id"] in uncredited_old)
        if r["status"] == "paid":
            assert verdict == "not_credited"  # Downcity says paid; no Stripe evidence
        elif r["topup_id"] in stale_pending:
            assert verdict == "stale_pending"
        else:
            assert verdict == "ok"  # recent pending or cancelled checkout: nothing owed
