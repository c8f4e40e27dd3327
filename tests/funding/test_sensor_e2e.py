"""The landed-events sensor end to end: a verified webhook event lands, the sensor ticks, the
requested funding run executes in a real Dagster instance, and the topup is credited once.

"Credited within a minute" = the sensor's interval (worst case: the event lands just after a
tick) + one tick + the run. The test measures tick + run and checks the sum stays under 60 s.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import dagster as dg

from assets.funding import definitions as funding_defs
from pipelines.resources import build_resources
from tests.funding.conftest import write_topups
from usage_model import clock
from usage_model.config import Settings
from usage_model.funding.webhook import land_event, verify
from usage_model.warehouse import connect

SECRET = "whsec_sensor_test"
CENTS = 1_250  # $12.50
CREDITS = CENTS * 10_000  # docs/funding.md: credits = USD cents x 10,000


def paid_session_event(event_id: str, topup_id: str, user_id: str) -> bytes:
    session = {
        "id": "cs_test_sensor1", "object": "checkout.session",
        "created": int(clock.now().timestamp()),
        "livemode": False, "status": "complete", "payment_status": "paid",
        "amount_total": CENTS, "currency": "usd", "client_reference_id": topup_id,
        "payment_intent": "pi_test_sensor1",
        "metadata": {"topup_id": topup_id, "user_id": user_id, "payment_id": "pay-s1"},
    }
    return json.dumps({"id": event_id, "object": "event", "type": "checkout.session.completed",
                       "created": int(clock.now().timestamp()), "livemode": False,
                       "data": {"object": session}}, indent=2).encode()


def deliver(settings: Settings, body: bytes) -> None:
    """What the receiver does with a delivery: verify Stripe's signature, then land it."""
    at = int(clock.now().timestamp())
    mac = hmac.new(SECRET.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    event_id = verify(body, f"t={at},v1={mac}", SECRET)
    land_event(settings.stripe_events_location(), event_id, body)


def ledger(settings: Settings) -> list[tuple]:
    with connect(settings.warehouse, read_only=True) as conn:
        return conn.execute("SELECT ref, user_id, kind, amount FROM balance_ledger "
                            "ORDER BY seq").fetchall()


def tick_and_run(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None
                 ) -> tuple[str | None, int]:
    """One sensor tick and the runs it requests; returns (new cursor, runs executed)."""
    sensor = defs.get_sensor_def("landed_stripe_events_sensor")
    result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor,
                                            definitions=defs))
    job = defs.resolve_job_def(sensor.job_name)
    for request in result.run_requests:
        assert request.run_key  # the daemon deduplicates ticks by run key
        outcome = job.execute_in_process(instance=instance, tags=request.tags)
        assert outcome.success
    return result.cursor or cursor, len(result.run_requests)


def test_landed_paid_event_is_credited_once_within_a_minute(settings, dagster_instance,
                                                            monkeypatch):
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET)
    defs = dg.Definitions.merge(funding_defs.definitions(),
                                dg.Definitions(resources=build_resources()))
    write_topups(settings, [{"topup_id": "t-s1", "user_id": "u-s1", "amount": CREDITS}])
    cursor, runs = tick_and_run(defs, dagster_instance, None)
    assert runs == 0  # nothing landed yet

    deliver(settings, paid_session_event("evt_sensor_1", "t-s1", "u-s1"))
    started = time.perf_counter()
    cursor, runs = tick_and_run(defs, dagster_instance, cursor)
    latency = time.perf_counter() - started
    assert runs == 1
    assert ledger(settings) == [("topup:t-s1", "u-s1", "topup", CREDITS)]
    interval = defs.get_sensor_def("landed_stripe_events_sensor").minimum_interval_seconds
    print(f"\nsensor tick + funding run: {latency:.2f} s (+ up to {interval} s interval)")
    assert interval + latency < 60

    # the next tick with the new cursor requests nothing
    assert tick_and_run(defs, dagster_instance, cursor)[1] == 0

    # Stripe redelivers the same event: a new run may happen, the credit does not
    deliver(settings, paid_session_event("evt_sensor_1", "t-s1", "u-s1"))
    cursor, _ = tick_and_run(defs, dagster_instance, cursor)
    deliver(settings, paid_session_event("evt_sensor_2", "t-s1", "u-s1"))  # same session again
    cursor, runs = tick_and_run(defs, dagster_instance, cursor)
    assert runs == 1
    assert ledger(settings) == [("topup:t-s1", "u-s1", "topup", CREDITS)]
    with connect(settings.warehouse, read_only=True) as conn:
        assert conn.execute("SELECT balance FROM balances WHERE user_id = 'u-s1'"
                            ).fetchall() == [(CREDITS,)]
        assert conn.execute("SELECT state FROM topups WHERE topup_id = 't-s1'"
                            ).fetchall() == [("paid",)]
    assert tick_and_run(defs, dagster_instance, cursor)[1] == 0
