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
