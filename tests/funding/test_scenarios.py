"""Funding rules, scenario by scenario, through the real SDK against the fake Stripe."""

from __future__ import annotations

from tests.funding.conftest import CREDITS_PER_CENT, write_topups


def test_paid_checkout_credits_the_downcity_amount_once(funding, settings):
    write_topups(settings, [{"topup_id": "t1", "user_id": "u1", "amount": 5_000_000}])
    session = funding.fake.create_checkout_session(500, topup_id="t1", user_id="u1")
    funding.fake.complete_checkout(session["id"])
    first = funding.run()
    assert first["pull"].mode == "list"
    assert funding.ledger() == [("topup:t1", "u1", "topup", 5_000_000)]
    # more events (duplicates of the same payment) and another run: still one credit
    funding.fake.emit("checkout.session.completed", funding.fake.get("checkout.session",
                                                                     session["id"]))
    second = funding.run()
    assert second["pull"].mode == "events"
    assert funding.ledger() == [("topup:t1", "u1", "topup", 5_000_000)]
    assert funding.balance("u1") == 5_000_000
    assert funding.state("t1") == "paid"
    row = funding.query("SELECT stripe_checkout_session, stripe_payment_intent, stripe_charge "
                        "FROM topups WHERE topup_id = 't1'")[0]
    assert row[0] == session["id"] and row[1].startswith("pi_") and row[2].startswith("ch_")
    assert funding.exceptions() == []


def test_without_record_credits_from_stripe_amount_and_metadata_user(funding):
    s = funding.fake.create_checkout_session(1234, topup_id="t2", user_id="u2")
    funding.fake.complete_checkout(s["id"])
    funding.run()
    assert funding.ledger() == [("topup:t2", "u2", "topup", 1234 * CREDITS_PER_CENT)]
    verdict = funding.query("SELECT verdict FROM reconciliation_report WHERE topup_id='t2'")
    assert verdict == [("missing_downcity_record",)]


def test_unconfigured_currency_is_an_exception_configured_one_converts(funding, settings):
    from dataclasses import replace

    eur = funding.fake.create_checkout_session(1000, "eur", topup_id="t3", user_id="u3")
    jpy = funding.fake.create_checkout_session(500, "jpy", topup_id="t4", user_id="u4")
    for s in (eur, jpy):
        funding.fake.complete_checkout(s["id"])
    funding.run()
    assert funding.ledger() == []
    assert {(r, t) for r, t, _ in funding.exceptions()} == {
        ("unsupported_currency", "t3"), ("unsupported_currency", "t4")}
    funding.config = replace(funding.config,
                             credits_per_minor={"usd": 10_000, "eur": 11_000, "jpy": 6_500})
    funding.run()
    assert funding.ledger() == [("topup:t3", "u3", "topup", 11_000_000),
                                ("topup:t4", "u4", "topup", 3_250_000)]
    assert funding.exceptions() == []


def test_amount_mismatch_is_kept_uncredited(funding, settings):
    write_topups(settings, [{"topup_id": "t5", "user_id": "u5", "amount": 5_000_000}])
    s = funding.fake.create_checkout_session(400, topup_id="t5", user_id="u5")
    funding.fake.complete_checkout(s["id"])
    funding.run()
    assert funding.ledger() == []
    assert funding.exceptions() == [("amount_mismatch", "t5", s["id"])]
    assert funding.state("t5") == "pending"


def test_currency_mismatch_against_downcity_payment(funding, settings):
    from dataclasses import replace

    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = settings.balance_landing / "payments"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{"payment_id": "p6", "topup_id": "t6",
                                          "currency": "usd", "amount": 1000}]),
                   folder / "p.parquet")
    funding.config = replace(funding.config, credits_per_minor={"usd": 10_000, "eur": 11_000})
    s = funding.fake.create_checkout_session(1000, "eur", topup_id="t6", user_id="u6",
                                             payment_id="p6")
    funding.fake.complete_checkout(s["id"])
    funding.run()
    assert funding.ledger() == []
    assert funding.exceptions() == [("currency_mismatch", "t6", s["id"])]


def test_missing_topup_reference(funding):
    s = funding.fake.create_checkout_session(100, metadata={}, client_reference_id=None)
    funding.fake.complete_checkout(s["id"])
    funding.run()
    assert funding.ledger() == []
    assert funding.exceptions() == [("missing_topup_reference", None, s["id"])]


def test_client_reference_id_alone_names_the_topup(funding, settings):
    write_topups(settings, [{"topup_id": "t7", "user_id": "u7", "amount": 1_000_000}])
    s = funding.fake.create_checkout_session(100, metadata={}, client_reference_id="t7")
    funding.fake.complete_checkout(s["id"])
    funding.run()
    assert funding.ledger() == [("topup:t7", "u7", "topup", 1_000_000)]


def test_second_paid_session_is_duplicate_payment(funding, settings):
    write_topups(settings, [{"topup_id": "t8", "user_id": "u8", "amount": 1_000_000}])
    first = funding.fake.create_checkout_session(100, topup_id="t8", user_id="u8")
    funding.fake.complete_checkout(first["id"])
    funding.run()
    funding.fake.clock = funding.fake.now() + 10
    second = funding.fake.create_checkout_session(100, topup_id="t8", user_id="u8")
    funding.fake.complete_checkout(second["id"])
    funding.run()
    assert funding.ledger() == [("topup:t8", "u8", "topup", 1_000_000)]
    assert funding.exceptions() == [("duplicate_payment", "t8", second["id"])]


def test_livemode_mismatch(funding):
    s = funding.fake.create_checkout_session(100, topup_id="t9", user_id="u9", livemode=True)
    funding.fake.complete_checkout(s["id"])
    funding.run()
    assert funding.ledger() == []
    assert funding.exceptions() == [("livemode_mismatch", "t9", s["id"])]


def test_late_expired_or_failed_never_undoes_a_credit(funding):
    s = funding.fake.create_checkout_session(100, topup_id="t10", user_id="u10")
    funding.fake.complete_checkout(s["id"])
    funding.run()
    funding.fake.emit("checkout.session.expired",
                      {**funding.fake.get("checkout.session", s["id"]), "status": "expired"})
    pi = funding.fake.get("payment_intent", s["payment_intent"])
    funding.fake.emit("payment_intent.payment_failed", {**pi, "status": "canceled"})
    funding.run()
    assert funding.ledger() == [("topup:t10", "u10", "topup", 1_000_000)]
    assert funding.state("t10") == "paid"


def test_delayed_payment_waits_then_credits_or_fails(funding):
    ok = funding.fake.create_checkout_session(300, topup_id="t11", user_id="u11")
    bad = funding.fake.create_checkout_session(300, topup_id="t12", user_id="u12")
    funding.fake.complete_checkout(ok["id"], delayed=True)
    funding.fake.complete_checkout(bad["id"], delayed=True)
    funding.run()
    assert funding.ledger() == []
    assert (funding.state("t11"), funding.state("t12")) == ("pending", "pending")
    funding.fake.settle_delayed_checkout(ok["id"], succeeded=True)
    funding.fake.settle_delayed_checkout(bad["id"], succeeded=False)
    funding.run()
    assert funding.ledger() == [("topup:t11", "u11", "topup", 3_000_000)]
    assert (funding.state("t11"), funding.state("t12")) == ("paid", "failed")


def test_expired_pending_session_is_cancelled_and_stale_pending_is_reported(funding, settings):
    write_topups(settings, [
        {"topup_id": "t13", "user_id": "u13", "amount": 1_000_000},
        {"topup_id": "t14", "user_id": "u14", "amount": 1_000_000,
         "created_at": "2020-01-01T00:00:00Z"}])
    s = funding.fake.create_checkout_session(100, topup_id="t13", user_id="u13")
    funding.fake.expire_checkout(s["id"])
    funding.run()
    assert funding.state("t13") == "cancelled"
    assert funding.query("SELECT verdict, stale_pending FROM reconciliation_report "
                         "WHERE topup_id = 't14'") == [("stale_pending", True)]


def test_partial_and_full_refunds_and_a_failed_refund(funding):
    s = funding.fake.create_checkout_session(1000, topup_id="t15", user_id="u15")
    funding.fake.complete_checkout(s["id"])
    charge = funding.fake.charge_of(s["id"])
    funding.run()
    r1 = funding.fake.refund(charge["id"], 300)
    funding.run()
    assert funding.state("t15") == "partially_refunded"
    assert funding.balance("u15") == 7_000_000
    funding.fake.fail_refund(r1["id"])
    funding.run()
    assert funding.balance("u15") == 10_000_000
    assert funding.state("t15") == "paid"
    funding.fake.refund(charge["id"])  # the rest (all 1000 cents)
    funding.run()
    funding.run()
    assert funding.balance("u15") == 0
    assert funding.state("t15") == "refunded"
    kinds = sorted(k for _, _, k, _ in funding.ledger())
    assert kinds == ["refund", "refund", "refund_reversal", "topup"]


def test_dispute_withdrawn_reinstated_and_inquiry_moves_no_money(funding):
    a = funding.fake.create_checkout_session(500, topup_id="t16", user_id="u16")
    b = funding.fake.create_checkout_session(500, topup_id="t17", user_id="u17")
    for s in (a, b):
        funding.fake.complete_checkout(s["id"])
    funding.run()
    dp = funding.fake.open_dispute(funding.fake.charge_of(a["id"])["id"])
    funding.fake.open_dispute(funding.fake.charge_of(b["id"])["id"], inquiry=True)
    funding.run()
    assert funding.state("t16") == "disputed" and funding.balance("u16") == 0
    assert funding.state("t17") == "paid" and funding.balance("u17") == 5_000_000
    funding.fake.close_dispute(dp["id"], won=True)
    funding.run()
    assert funding.state("t16") == "paid" and funding.balance("u16") == 5_000_000


def test_reversal_below_zero_is_flagged(funding):
    from usage_model.funding.ledger import LedgerEntry, append_entries

    s = funding.fake.create_checkout_session(100, topup_id="t18", user_id="u18")
    funding.fake.complete_checkout(s["id"])
    funding.run()
    with funding.conn() as conn:
        append_entries(conn, [LedgerEntry("u18", "charge", -600_000, "charge:u18:day1")])
    funding.fake.refund(funding.fake.charge_of(s["id"])["id"])
    funding.run()
    assert funding.balance("u18") == -600_000
    assert funding.query("SELECT verdict FROM reconciliation_report WHERE topup_id='t18'") == [
        ("negative_balance",)]


def test_payment_intent_alone_credits(funding):
    pi = funding.fake.create_payment_intent(700, metadata={"topup_id": "t19", "user_id": "u19"})
    funding.fake.succeed_payment_intent(pi["id"])
    funding.run()
    assert funding.ledger() == [("topup:t19", "u19", "topup", 7_000_000)]
