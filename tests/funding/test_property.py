"""Property: any duplication and reordering of a scenario's events yields the same ledger."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.stripe_fake import FakeStripe
from tests.stripe_fake.server import dumps
from usage_model.funding.config import FundingConfig
from usage_model.funding.reconcile import reconcile
from usage_model.funding.sync import consume_landed
from usage_model.funding.webhook import land_event
from usage_model.warehouse import ensure_schema

# Worked out by hand from the scenario below (credits; 1 cent = 10,000 credits).
EXPECTED = sorted([
    ("topup:t1", "u1", "topup", 5_000_000),
    ("refund", "u1", "refund", -2_000_000),
    ("refund_reversal", "u1", "refund_reversal", 2_000_000),
    ("topup:t2", "u2", "topup", 3_000_000),
    ("dispute_withdrawn", "u2", "dispute", -3_000_000),
    ("dispute_reinstated", "u2", "dispute_reversal", 3_000_000),
    ("topup:t3", "u3", "topup", 1_000_000),
    ("topup:t4", "u4", "topup", 1_000_000),
])


@functools.cache
def scenario_events() -> tuple[dict, ...]:
    fake = FakeStripe()  # scenario methods only: no HTTP needed
    fake.clock = 1_790_000_000
    s1 = fake.create_checkout_session(500, topup_id="t1", user_id="u1")
    fake.complete_checkout(s1["id"])
    refund = fake.refund(fake.charge_of(s1["id"])["id"], 200)
    fake.fail_refund(refund["id"])
    s2 = fake.create_checkout_session(300, topup_id="t2", user_id="u2")
    fake.complete_checkout(s2["id"])
    dp = fake.open_dispute(fake.charge_of(s2["id"])["id"])
    fake.close_dispute(dp["id"], won=True)
    for _ in range(2):  # a second paid session for t3: duplicate_payment, credited once
        fake.complete_checkout(fake.create_checkout_session(100, topup_id="t3",
                                                            user_id="u3")["id"])
    s4 = fake.create_checkout_session(100, topup_id="t4", user_id="u4")
    fake.complete_checkout(s4["id"], delayed=True)
    fake.settle_delayed_checkout(s4["id"], succeeded=True)
    fake.expire_checkout(fake.create_checkout_session(100, topup_id="t5", user_id="u5")["id"])
    return tuple(fake.events)


def normalized(rows: list[tuple]) -> list[tuple]:
    """Refs of refunds and disputes carry Stripe ids; keep their kind of movement."""
    out = []
    for ref, user, kind, amount in rows:
        if ref.startswith("refund:"):
            ref = "refund_reversal" if ref.endswith(":reversal") else "refund"
        elif ref.startswith("dispute:"):
            ref = "dispute_" + ref.rsplit(":", 1)[1]
        out.append((ref, user, kind, amount))
    return sorted(out)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_duplication_and_order_gives_the_same_ledger(data):
    events = list(scenario_events())
    delivered = data.draw(st.lists(st.sampled_from(events), max_size=15).map(
        lambda extra: events + extra).flatmap(st.permutations))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(delivered)), max_size=4)))
    with tempfile.TemporaryDirectory() as tmp:
        events_dir = Path(tmp) / "events"
        conn = duckdb.connect()
        ensure_schema(conn)
        for start, end in zip([0, *cuts], [*cuts, len(delivered)], strict=True):
            for event in delivered[start:end]:
                land_event(events_dir, event["id"], dumps(event).encode())
            consume_landed(conn, events_dir, source=None)
            reconcile(conn, FundingConfig(), key_livemode=False)
        rows = conn.execute("SELECT ref, user_id, kind, amount FROM balance_ledger").fetchall()
        assert normalized(rows) == EXPECTED
        dup = conn.execute("SELECT reason, topup_id FROM reconciliation_exceptions").fetchall()
        assert dup == [("duplicate_payment", "t3")]
