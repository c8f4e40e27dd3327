"""Stripe meter events through the real stripe SDK to the local Stripe-compatible server."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.exports.helpers import write_daily_by_user
from tests.stripe_fake import FakeStripe
from usage_model import clock
from usage_model.config import Settings
from usage_model.exports.factory import make_sink
from usage_model.exports.runner import run_export
from usage_model.exports.sinks import DeliveryFailed
from usage_model.hooks.config import load_config
from usage_model.hooks.protocol import Period
from usage_model.warehouse import connect

# Meter events must fall in Stripe's recent window, measured from the one clock: pin it.
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
TODAY = NOW.date()
DAY = TODAY - timedelta(days=3)


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.ENV_VAR, NOW.isoformat())


@pytest.fixture
def fake(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    with FakeStripe() as server:
        monkeypatch.setenv("STRIPE_SECRET_KEY", server.api_key)
        monkeypatch.setenv("STRIPE_API_BASE", server.base_url)
        yield server


def _export(settings: Settings, users: int = 3, rps: int = 50):
    lines = "".join(f"u{i},cus_{i:04d}\n" for i in range(users))
    (settings.config_file.parent / "customers.csv").write_text("user_id,stripe_customer_id\n"
                                                               + lines)
    settings.config_file.write_text(
        "exports:\n  tokens: {sink: stripe_meter_events, source: usage_daily_by_user,"
        f" period: day, event_name: city_tokens, value: output_tokens,"
        f" customer_map: customers.csv, max_requests_per_second: {rps}}}\n")
    return load_config(settings.config_file).exports["tokens"]


def _run(settings: Settings, export, day: date = DAY):
    with connect(settings.warehouse) as conn:
        setup = make_sink(export, settings, conn)
        if setup.sink is not None:
            setup.sink.backoff_s = 0.01
        return run_export(conn, export, Period.from_key("day", day.isoformat()), setup.sink,
                          diff=setup.diff), setup.sink


def _sent(fake: FakeStripe) -> dict[str, int]:
    totals: dict[str, int] = {}
    for e in fake.meter_events:
        cus = e["payload"]["stripe_customer_id"]
        totals[cus] = totals.get(cus, 0) + int(e["payload"]["value"])
    return totals


def test_meter_events_then_only_the_difference(settings: Settings, fake: FakeStripe) -> None:
    export = _export(settings)
    write_daily_by_user(settings, [(DAY, "c1", "u0", 1, 0, 100), (DAY, "c2", "u0", 1, 0, 5),
                                   (DAY, "c1", "u1", 1, 0, 7), (DAY, "c1", "nobody", 1, 0, 9),
                                   (DAY, "c1", None, 1, 0, 11)])
    first, _ = _run(settings, export)
    again, _ = _run(settings, export)
    write_daily_by_user(settings, [(DAY, "c1", "u0", 1, 0, 130), (DAY, "c2", "u0", 1, 0, 5),
                                   (DAY, "c1", "u1", 1, 0, 7), (DAY, "c1", "u2", 1, 0, 1)])
    late, _ = _run(settings, export)
    assert first.versions_delivered == [1] and again.status == "up_to_date"
    assert late.versions_delivered == [2]
    assert "1 users without a customer" in first.notes[0]
    assert _sent(fake) == {"cus_0000": 135, "cus_0001": 7, "cus_0002": 1}
    v2 = [e for e in fake.meter_events if ":v2:" in e["identifier"]]
    assert sorted(int(e["payload"]["value"]) for e in v2) == [1, 30]  # differences only
    end = datetime.combine(DAY + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    assert {e["timestamp"] for e in fake.meter_events} == {int(end.timestamp()) - 1}
    assert all(e["event_name"] == "city_tokens" for e in fake.meter_events)


def test_meter_events_use_the_pinned_stripe_api_version(settings: Settings, fake: FakeStripe
                                                         ) -> None:
    write_daily_by_user(settings, [(DAY, "c1", "u0", 1, 0, 10), (DAY, "c1", "u1", 1, 0, 20)])
    _run(settings, _export(settings))
    assert len(fake.meter_events) == 2
    # the version funding reads with, not the account's default (the header is then absent)
    assert fake.stripe_versions == ["2026-10-28.endive"] * 2


def test_malformed_key_fails_the_export_before_any_call(settings: Settings, fake: FakeStripe,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", "pk_test_publishable")
    write_daily_by_user(settings, [(DAY, "c1", "u0", 1, 0, 10)])
    with pytest.raises(DeliveryFailed) as info:
        _run(settings, _export(settings))
    assert str(info.value) == ("STRIPE_SECRET_KEY does not start with sk_ or rk_ (a secret or "
                               f"restricted key is needed); Stripe at {fake.base_url} was not "
                               "called")
    assert fake.requests == []


def test_crash_after_send_is_absorbed_by_identifier(settings: Settings, fake: FakeStripe) -> None:
    export = _export(settings)
    write_daily_by_user(settings, [(DAY, "c1", "u0", 1, 0, 10), (DAY, "c1", "u1", 1, 0, 20)])
    _run(settings, export)
    with connect(settings.warehouse) as conn:  # the state a crash before the commit leaves
        conn.execute("UPDATE export_ledger SET status = 'pending', delivered_at = NULL")
        conn.execute("UPDATE export_meter_events SET status = 'pending'")
    rerun, _ = _run(settings, export)
    assert rerun.resent_pending == [1]
    assert len(fake.meter_events) == 2 and len(fake.meter_event_requests) == 4
    assert _sent(fake) == {"cus_0000": 10, "cus_0001": 20}
    with connect(settings.warehouse) as conn:
        assert conn.execute("SELECT DISTINCT status FROM export_meter_events").fetchall() == [
            ("delivered",)]


def test_rate_limited_and_5xx_are_retried(settings: Settings, fake: FakeStripe) -> None:
    export = _export(settings)
    write_daily_by_user(settings, [(DAY, "c1", "u0", 1, 0, 10)])
    fake.fail_next(2, status=429)
    outcome, sink = _run(settings, export)
    assert outcome.versions_delivered == [1] and sink.requests_sent == 3
    assert _sent(fake) == {"cus_0000": 10}


def test_exhausted_retries_leave_the_version_pending(settings: Settings, fake: FakeStripe
                                                     ) -> None:
    export = _export(settings)
    write_daily_by_user(settings, [(DAY, "c1", "u0", 1, 0, 10)])
    fake.fail_next(6, status=500)
    with pytest.raises(DeliveryFailed, match="HTTP 500 after 6 attempts"):
        _run(settings, export)
    outcome, _ = _run(settings, export)
    assert outcome.resent_pending == [1] and _sent(fake) == {"cus_0000": 10}


def test_requests_stay_within_the_configured_rate(settings: Settings, fake: FakeStripe) -> None:
    export = _export(settings, users=30, rps=40)
    write_daily_by_user(settings, [(DAY, "c1", f"u{i}", 1, 0, i + 1) for i in range(30)])
    start = time.perf_counter()
    _run(settings, export)
    elapsed = time.perf_counter() - start
    assert len(fake.meter_events) == 30
    print(f"\nmeter events: 30 in {elapsed:.2f} s = {30 / elapsed:.1f}/s (limit 40/s)")
    assert 30 / elapsed <= 40 * 1.05


def test_outside_the_35_day_window_is_recorded_not_sent(settings: Settings, fake: FakeStripe
                                                        ) -> None:
    export = _export(settings)
    old = TODAY - timedelta(days=40)
    write_daily_by_user(settings, [(old, "c1", "u0", 1, 0, 10)])
    outcome, _ = _run(settings, export, day=old)
    assert "1 rejected" in outcome.notes[0] and not fake.meter_event_requests
    with connect(settings.warehouse) as conn:
        assert conn.execute("SELECT status, detail FROM export_meter_events").fetchall() == [
            ("rejected", "outside_stripe_window")]
    again, _ = _run(settings, export, day=old)
    assert again.status == "up_to_date"


def test_no_stripe_key_is_not_configured(settings: Settings, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    export = _export(settings)
    with connect(settings.warehouse) as conn:
        setup = make_sink(export, settings, conn)
    assert setup.sink is None and "STRIPE_SECRET_KEY is not set" in setup.reason
