"""One Downcity wallet plus its Stripe account, showing every reconciliation verdict.

`stripe_side(fake)` drives the fake Stripe (scenario methods, as Stripe would); `exports(ids)`
gives Downcity's five exports (current shape) for the same story. EXPECTED is worked out by
hand from the story below (1 US cent = 10,000 credits), not from the code under test.

| topup  | Downcity wallet                  | Downcity records       | Stripe                     |
|--------|----------------------------------|------------------------|----------------------------|
| t_ok   | credited 5,000,000               | paid; payment paid     | paid $5 (and a 2nd $5)     |
| t_dc   | credited 2,000,000               | paid; payment paid     | nothing                    |
| t_man  | credited 1,000,000 by ops-7      | paid; no payment       | nothing                    |
| t_nc   | nothing                          | pending                | paid $3                    |
| t_dbl  | credited twice 1,000,000         | paid                   | paid $1                    |
| t_amt  | credited 5,000,000               | paid 5,000,000         | paid $4                    |
| t_ref  | credited 10,000,000              | paid                   | paid $10, refunded $3      |
| t_dis  | credited 5,000,000               | paid                   | paid $5, disputed $5       |
| t_pend | nothing                          | pending (an hour old)  | nothing                    |
| t_old  | nothing                          | pending (four days)    | nothing                    |
"""

from __future__ import annotations

from tests.funding.downcity_shapes import account, ledger, payment, topup
from tests.stripe_fake import FakeStripe

CLOCK = 1_795_430_000  # 2026-11-23 (Stripe objects' created)
PAID = {"t_ok": 500, "t_nc": 300, "t_dbl": 100, "t_amt": 400, "t_ref": 1000, "t_dis": 500}
EXPECTED = {  # report_key -> (verdict, credits at stake)
    "topup:t_ok": ("ok", 5_000_000),
    "topup:t_dc": ("downcity_evidence_only", 2_000_000),
    "topup:t_man": ("credited_without_payment", 1_000_000),
    "topup:t_nc": ("not_credited", 3_000_000),
    "topup:t_dbl": ("double_credit", 1_000_000),
    "topup:t_amt": ("amount_mismatch", 1_000_000),
    "topup:t_ref": ("refund_not_reversed", 3_000_000),
    "topup:t_dis": ("dispute_not_reversed", 5_000_000),
    "topup:t_pend": ("not_paid", 0),
    "topup:t_old": ("stale_pending", 0),
    "second t_ok payment": ("duplicate_payment", 5_000_000),
}


def stripe_side(fake: FakeStripe) -> dict[str, str]:
    """Record the Stripe story; return the checkout session id per topup (and `t_ok#2`)."""
    fake.clock = CLOCK
    sessions = {}
    for topup_id, cents in PAID.items():
        s = fake.create_checkout_session(cents, topup_id=topup_id, user_id=f"u_{topup_id[2:]}",
                                         payment_id=f"pay_{topup_id}")
        fake.complete_checkout(s["id"])
        sessions[topup_id] = s["id"]
        fake.clock += 60
    second = fake.create_checkout_session(500, topup_id="t_ok", user_id="u_ok")
    fake.complete_checkout(second["id"])
    sessions["t_ok#2"] = second["id"]
    fake.clock += 60
    fake.refund(fake.charge_of(sessions["t_ref"])["id"], 300)
    fake.open_dispute(fake.charge_of(sessions["t_dis"])["id"])
    return sessions


def exports() -> dict[str, list[dict]]:
    """Downcity's exports for the story (rows, current shape)."""
    credited = {"t_ok": 5_000_000, "t_dc": 2_000_000, "t_man": 1_000_000, "t_dbl": 1_000_000,
                "t_amt": 5_000_000, "t_ref": 10_000_000, "t_dis": 5_000_000}
    topups = [topup(t, f"u_{t[2:]}", c) for t, c in credited.items()]
    topups += [topup("t_nc", "u_nc", 3_000_000, "pending"),
               topup("t_pend", "u_pend", 1_000_000, "pending",
                     created_at="2026-11-24T11:00:00.000Z", updated_at="2026-11-24T11:00:00.000Z"),
               topup("t_old", "u_old", 1_000_000, "pending",
                     created_at="2026-11-20T09:00:00.000Z", updated_at="2026-11-20T09:00:00.000Z")]
    payments = [payment("pay_t_ok", "t_ok", "u_ok", 5_000_000),
                payment("pay_t_dc", "t_dc", "u_dc", 2_000_000),
                payment("pay_t_nc", "t_nc", "u_nc", 3_000_000, "pending"),
                payment("pay_t_pend", "t_pend", "u_pend", 1_000_000, "pending")]
    entries, accounts = [], []
    for t, c in credited.items():
        user = f"u_{t[2:]}"
        meta = {"adminId": "ops-7"} if t == "t_man" else {}
        note = "manual topup by ops-7" if t == "t_man" else ""
        entries.append(ledger(f"bal_init:{user}", user, "init", 0, 0))
        entries.append(ledger(f"bal_topup:{t}", user, "topup", c, c, ref=t, meta=meta,
                              note=note, at="2026-11-21T08:00:00.000Z"))
        balance = c
        if t == "t_dbl":  # finishTopup ran twice
            balance += c
            entries.append(ledger(f"bal_topup_again:{t}", user, "topup", c, balance, ref=t,
                                  at="2026-11-21T08:00:01.000Z"))
        if t == "t_ok":  # usage charged against the wallet
            balance -= 1_500_000
            entries.append(ledger("bal_charge:charge:c1", user, "charge", -1_500_000, balance,
                                  ref="charge:c1", at="2026-11-22T08:00:00.000Z"))
        # Downcity's account for u_dc disagrees with its own ledger by 500,000 credits
        accounts.append(account(user, balance + (500_000 if t == "t_dc" else 0)))
    charges = [{"charge_id": "c1", "user_id": "u_ok", "credits": 1_500_000, "status": "settled",
                "ref": "charge:c1"}]
    return {"topups": topups, "payments": payments, "ledger": entries, "accounts": accounts,
            "charges": charges}


BALANCES = {  # per user, the sum of Downcity's ledger
    "u_ok": 3_500_000, "u_dc": 2_000_000, "u_man": 1_000_000, "u_dbl": 2_000_000,
    "u_amt": 5_000_000, "u_ref": 10_000_000, "u_dis": 5_000_000,
}
