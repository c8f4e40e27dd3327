"""The funding graph through real Dagster execution (in-process, real instance)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import dagster as dg
import pytest

from assets.funding import definitions as funding_defs
from tests.funding.conftest import FUNDING_NOW, events_folder, write_topups
from usage_model import clock


def _materialize(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    from pipelines.resources import build_resources

    defs = funding_defs.definitions()
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    return dg.materialize([*assets, *defs.asset_checks], instance=instance,
                          resources={**build_resources(), **defs.resources})


# The same run on the tests' frozen date and decades later: nothing depends on the real date.
@pytest.mark.parametrize("now", [FUNDING_NOW, datetime(2071, 3, 9, 8, 30, tzinfo=UTC)],
                         ids=["pinned", "far-future"])
def test_graph_without_stripe_key_reports_not_configured_and_succeeds(
        settings, dagster_instance, monkeypatch, now):
    monkeypatch.setenv(clock.ENV_VAR, now.isoformat())
    write_topups(settings, [{"topup_id": "t1", "user_id": "u1", "amount": 1_000_000}])
    result = _materialize(dagster_instance)
    assert result.success
    mats = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    meta = mats["stripe_objects"].event_specific_data.materialization.metadata
    assert meta["stripe_api"].value.startswith("not configured")
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["balances_match_ledger"] is True
    report = mats["reconciliation_report"].event_specific_data.materialization.metadata
    # a pending topup that is not stale owes nothing either way
    assert report["verdict_not_paid"].value == 1


def test_graph_with_stripe_credits_and_checks(settings, dagster_instance, fake_stripe,
                                              monkeypatch):
    monkeypatch.setenv("STRIPE_SECRET_KEY", fake_stripe.api_key)
    monkeypatch.setenv("STRIPE_API_BASE", fake_stripe.base_url)
    write_topups(settings, [{"topup_id": "t1", "user_id": "u1", "amount": 2_500_000}])
    session = fake_stripe.create_checkout_session(250, topup_id="t1", user_id="u1")
    fake_stripe.complete_checkout(session["id"])
    result = _materialize(dagster_instance)
    assert result.success
    mats = {m.asset_key.to_user_string(): m.event_specific_data.materialization.metadata
            for m in result.get_asset_materialization_events()}
    assert mats["stripe_objects"]["stripe_api"].value == "configured"
    assert mats["balance_ledger"]["entries_inserted"].value == 1
    assert mats["topups"]["state_paid"].value == 1
    for text in (str(v.value) for m in mats.values() for v in m.values()):
        assert fake_stripe.api_key not in text


@pytest.mark.parametrize(("key", "problem"), [
    ("sk_test_not_the_right_key", "rejected STRIPE_SECRET_KEY (authentication error)"),
    ("sk_test_not_the_right_key\n", "STRIPE_SECRET_KEY contains whitespace"),
])
def test_bad_key_stops_the_asset_with_one_line(settings, dagster_instance, fake_stripe,
                                               monkeypatch, key, problem):
    monkeypatch.setenv("STRIPE_SECRET_KEY", key)
    monkeypatch.setenv("STRIPE_API_BASE", fake_stripe.base_url)
    result = _materialize_raising(dagster_instance)
    failure = [e for e in result.all_events if e.is_step_failure][0]
    message = failure.step_failure_data.error.message
    assert problem in message and fake_stripe.base_url in message
    assert "sk_test_not" not in message


def _materialize_raising(instance):
    from pipelines.resources import build_resources

    defs = funding_defs.definitions()
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    return dg.materialize([*assets], instance=instance, raise_on_error=False,
                          resources={**build_resources(), **defs.resources})


def test_sensor_requests_a_run_for_new_landed_events(settings, dagster_instance):
    events_dir = events_folder(settings)
    events_dir.mkdir(parents=True)
    sensor = funding_defs.landed_stripe_events_sensor
    ctx = dg.build_sensor_context(instance=dagster_instance)
    assert not sensor(ctx).run_requests
    (events_dir / "evt_123.json").write_text('{"id": "evt_123"}')
    first = sensor(dg.build_sensor_context(instance=dagster_instance))
    assert len(first.run_requests) == 1
    again = sensor(dg.build_sensor_context(instance=dagster_instance, cursor=first.cursor))
    assert not again.run_requests


def test_sensor_sees_a_file_that_appears_after_a_newer_one(settings, dagster_instance):
    """A landed file's time is when its write began (on S3 to the second): one can appear
    after a newer one was seen, with the same time or an earlier one."""
    events_dir = events_folder(settings)
    events_dir.mkdir(parents=True)
    sensor = funding_defs.landed_stripe_events_sensor

    def land(name: str, at_s: int) -> None:
        path = events_dir / f"{name}.json"
        path.write_text(f'{{"id": "{name}"}}')
        os.utime(path, ns=(at_s * 10**9, at_s * 10**9))

    def evaluate(cursor: str | None) -> dg.SensorResult:
        return sensor(dg.build_sensor_context(instance=dagster_instance, cursor=cursor))

    land("evt_b", 1_000)
    first = evaluate(None)
    land("evt_a", 1_000)  # the same second as evt_b, and a name before it
    second = evaluate(first.cursor)
    land("evt_0", 990)  # its upload began ten seconds before evt_b's
    third = evaluate(second.cursor)
    requests = [r.run_requests for r in (first, second, third)]
    assert [[r.tags["city_usage/landed_stripe_events"] for r in rs] for rs in requests] == [
        ["1"], ["1"], ["1"]]
    assert len({rs[0].run_key for rs in requests}) == 3  # three distinct runs
    assert not evaluate(third.cursor).run_requests
    # A cursor of the older `<time ns>|<name>` form: everything up to its time was seen.
    assert not evaluate(f"{1_000 * 10**9}|evt_b").run_requests
    land("evt_c", 1_001)
    assert len(evaluate(f"{1_000 * 10**9}|evt_b").run_requests) == 1
