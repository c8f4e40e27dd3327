"""Downcity's wallet as the ledger of record, and every reconciliation verdict, with Stripe's
side pulled through the real `stripe` SDK from the fake Stripe server over HTTP."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import pytest

from tests.funding.downcity_scenario import BALANCES, EXPECTED, exports, stripe_side
from tests.funding.downcity_shapes import current_table, write
from usage_model.config import Settings
from usage_model.funding.ledger import (
    DowncityWalletIsReadOnly,
    LedgerEntry,
    append_entries,
    balance_mismatches,
)
from usage_model.funding.report import funding_by_verdict


def land(settings: Settings, tables: dict[str, list[dict]]) -> None:
    for folder, rows in tables.items():
        write(settings.balance_landing, folder, current_table(folder, rows))


def report(funding) -> dict[str, tuple[str, int]]:
    return {k: (v, s) for k, v, s in funding.query(
        "SELECT report_key, verdict, credits_at_stake FROM reconciliation_report")}


def expected(sessions: dict[str, str]) -> dict[str, tuple[str, int]]:
    return {f"stripe:{sessions['t_ok#2']}" if k == "second t_ok payment" else k: v
            for k, v in EXPECTED.items()}


@pytest.fixture
def story(funding, settings):
    sessions = stripe_side(funding.fake)
    land(settings, exports())
    funding.run()
    return sessions


def test_every_verdict_from_downcity_records_and_stripe_through_the_sdk(funding, story):
    assert report(funding) == expected(story)
    manual = funding.query("SELECT credited_by, credited_at, evidence, detail FROM "
                           "reconciliation_report WHERE topup_id = 't_man'")[0]
    assert manual[:3] == ("ops-7", datetime(2026, 11, 21, 8, tzinfo=UTC), "none")
    assert "ops-7" in manual[3] and "2026-11-21T08:00:00" in manual[3]
    evidence = dict(funding.query("SELECT topup_id, evidence FROM reconciliation_report "
                                  "WHERE row_kind = 'topup'"))
    assert evidence["t_ok"] == "stripe" and evidence["t_dc"] == "downcity_payment"
    states = dict(funding.query("SELECT topup_id, stripe_state FROM reconciliation_report "
                                "WHERE row_kind = 'topup'"))
    assert (states["t_ref"], states["t_dis"], states["t_dc"]) == ("refunded", "disputed",
                                                                  "not_seen")


def test_downcity_mode_mirrors_the_wallet_and_balances_are_its_sums(funding, story):
    assert funding.query("SELECT mode, downcity_ledger_entries FROM funding_mode") == [
        ("downcity", 16)]
    rows = funding.query("SELECT entry_id, source, source_ref, amount, balance_after, ref "
                         "FROM balance_ledger WHERE user_id = 'u_ok' ORDER BY seq")
    assert rows == [
        ("bal_init:u_ok", "downcity", "", 0, 0, "downcity:bal_init:u_ok"),
        ("bal_topup:t_ok", "downcity", "t_ok", 5_000_000, 5_000_000, "downcity:bal_topup:t_ok"),
        ("bal_charge:charge:c1", "downcity", "charge:c1", -1_500_000, 3_500_000,
         "downcity:bal_charge:charge:c1")]
    assert funding.query("SELECT DISTINCT source FROM balance_ledger") == [("downcity",)]
    balances = dict(funding.query("SELECT user_id, balance FROM balances"))
    assert balances == BALANCES
    with funding.conn() as conn:
        assert balance_mismatches(conn) == []
    # On consistent accounts the balances equal Downcity's; u_dc's account disagrees.
    accounts = dict(funding.query("SELECT user_id, credits FROM downcity_accounts"))
    assert {u for u in accounts if accounts[u] != balances.get(u)} == {"u_dc"}
    assert funding.query("SELECT reason, stripe_object_id, user_id, credits_at_stake FROM "
                         "reconciliation_exceptions WHERE reason = 'account_ledger_mismatch'"
                         ) == [("account_ledger_mismatch", "downcity_account:u_dc", "u_dc",
                                500_000)]
    # Stripe-side exceptions carry the payment's worth: $4 for t_amt, $5 for t_ok's second
    assert funding.query("SELECT reason, topup_id, credits_at_stake FROM "
                         "reconciliation_exceptions WHERE reason <> 'account_ledger_mismatch' "
                         "ORDER BY reason") == [("amount_mismatch", "t_amt", 4_000_000),
                                                ("duplicate_payment", "t_ok", 5_000_000)]


def test_runs_are_idempotent_in_downcity_mode(funding, story):
    before = funding.query("SELECT * EXCLUDE (created_at) FROM balance_ledger ORDER BY seq")
    funding.run()
    assert funding.query("SELECT * EXCLUDE (created_at) FROM balance_ledger ORDER BY seq") == \
        before
    assert report(funding) == expected(story)


def test_city_usage_never_writes_its_own_entry_into_the_mirror(funding, story):
    with funding.conn() as conn, pytest.raises(DowncityWalletIsReadOnly, match="mirrors"):
        append_entries(conn, [LedgerEntry("u_ok", "charge", -1, "charge:x")])
    assert funding.query("SELECT count(*) FROM balance_ledger WHERE source <> 'downcity'") == [
        (0,)]


def test_without_the_downcity_ledger_the_ledger_is_derived_from_stripe(funding, story,
                                                                        settings):
    shutil.rmtree(settings.balance_landing / "ledger")
    funding.run()
    assert funding.query("SELECT mode FROM funding_mode") == [("standalone",)]
    assert funding.query("SELECT count(*) FROM balance_ledger WHERE source = 'downcity'") == [
        (0,)]
    credits = funding.query("SELECT ref, amount FROM balance_ledger WHERE kind = 'topup' "
                            "ORDER BY ref")
    # Stripe-paid topups, except t_amt (Stripe amount differs from Downcity's record)
    assert credits == [("topup:t_dbl", 1_000_000), ("topup:t_dis", 5_000_000),
                       ("topup:t_nc", 3_000_000), ("topup:t_ok", 5_000_000),
                       ("topup:t_ref", 10_000_000)]
    verdicts = report(funding)
    # standalone reverses refunds and disputes itself: nothing left unreversed
    assert verdicts["topup:t_ref"] == ("ok", 10_000_000)
    assert verdicts["topup:t_man"][0] == "not_credited"  # Downcity says paid, no evidence
    with funding.conn() as conn:
        assert balance_mismatches(conn) == []


def test_report_totals_credits_per_verdict(funding, story):
    with funding.conn() as conn:
        rows = funding_by_verdict(conn)
    totals = {verdict: credits for verdict, _topups, _payments, credits in rows}
    by_hand: dict[str, int] = {}
    for verdict, stake in EXPECTED.values():
        by_hand[verdict] = by_hand.get(verdict, 0) + stake
    assert totals == by_hand
    assert {v: (t, p) for v, t, p, _ in rows}["duplicate_payment"] == (0, 1)


def test_stripe_not_configured_downcity_records_are_the_only_evidence(funding, settings):
    land(settings, exports())
    funding.run(pull=False)
    verdicts = report(funding)
    assert verdicts["topup:t_ok"] == ("downcity_evidence_only", 5_000_000)
    assert verdicts["topup:t_man"] == ("credited_without_payment", 1_000_000)
    assert verdicts["topup:t_ref"] == ("credited_without_payment", 10_000_000)
    assert verdicts["topup:t_nc"] == ("stale_pending", 0)  # pending since 11-20


def test_nothing_landed_gives_an_empty_report_in_standalone_mode(funding):
    out = funding.run(pull=False)
    assert out["report"] == {} and out["reconcile"].mode == "standalone"
    assert funding.query("SELECT count(*) FROM reconciliation_report") == [(0,)]


def test_a_ledger_without_topups_export_still_links_credits_to_topups(funding, settings):
    tables = exports()
    land(settings, {"ledger": tables["ledger"]})
    funding.run(pull=False)
    verdicts = report(funding)
    assert verdicts["topup:t_man"] == ("credited_without_payment", 1_000_000)
    assert verdicts["topup:t_dbl"] == ("double_credit", 1_000_000)
    assert verdicts["topup:t_ok"] == ("credited_without_payment", 5_000_000)
    assert funding.query("SELECT credited_credits FROM topups WHERE topup_id = 't_dbl'") == [
        (2_000_000,)]


def test_wallet_mode_shows_on_the_assets_through_dagster(settings, dagster_instance,
                                                         monkeypatch):
    import dagster as dg

    from assets.funding import definitions as funding_defs
    from pipelines.resources import build_resources

    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    land(settings, exports())
    defs = funding_defs.definitions()
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    result = dg.materialize([*assets, *defs.asset_checks], instance=dagster_instance,
                            resources={**build_resources(), **defs.resources})
    assert result.success
    mats = {m.asset_key.to_user_string(): m.event_specific_data.materialization.metadata
            for m in result.get_asset_materialization_events()}
    assert mats["balances"]["wallet_mode"].value == "downcity"
    assert "landing/balance/ledger/" in mats["balances"]["wallet_mode_reason"].value
    assert mats["balance_ledger"]["entries_mirrored"].value == 16
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["balances_match_ledger"] is True
    assert checks["no_open_exceptions"] is False  # u_dc's account disagrees with its ledger


def test_a_refund_the_wallet_reversed_by_hand_is_ok(funding, settings):
    from tests.funding.downcity_shapes import ledger

    sessions = stripe_side(funding.fake)
    tables = exports()
    tables["ledger"].append(ledger("bal_sub:r1", "u_ref", "sub", -3_000_000, 7_000_000,
                                   ref="t_ref", note="refund reversed by support",
                                   at="2026-11-23T12:00:00.000Z"))
    land(settings, tables)
    funding.run()
    verdicts = report(funding)
    assert verdicts["topup:t_ref"] == ("ok", 10_000_000)
    assert verdicts == {**expected(sessions), "topup:t_ref": ("ok", 10_000_000)}
    assert funding.query("SELECT ledger_credits, ledger_state FROM reconciliation_report "
                         "WHERE topup_id = 't_ref'") == [(7_000_000, "partially_refunded")]
