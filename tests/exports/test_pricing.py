"""Built-in pricing and entitlement hooks over real curated Parquet (DuckDB aggregation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.exports.helpers import event, write_events
from usage_model.config import Settings
from usage_model.hooks.config import load_config
from usage_model.hooks.protocol import CHARGE_SCHEMA, HookResultError, Period
from usage_model.hooks.run import build_charges, build_entitlements, charge_problems, run_hook
from usage_model.warehouse import connect

MARCH = Period.from_key("month", "2026-03-01")


def _pricing(tmp_path: Path, text: str):
    path = tmp_path / "city-usage.yaml"
    path.write_text(text)
    return load_config(path)


def _charges(settings: Settings, config) -> dict[tuple, dict]:
    run = run_hook(config.pricing, MARCH, settings.events_location(), CHARGE_SCHEMA, "pricing",
                   record_errors=settings.record_errors)
    return {(r["user_id"], r["city_id"]): r for r in run.table.to_pylist()}


def test_per_call_counts_success_calls_and_flags_anonymous(settings: Settings, tmp_path: Path
                                                           ) -> None:
    write_events(settings, [
        event("2026-03-01", "u1"), event("2026-03-02", "u1"), event("2026-03-02", "u1",
                                                                    status="error"),
        event("2026-03-31", "u2", city="c2"), event("2026-04-01", "u2", city="c2"),
        event("2026-03-05", None),
    ])
    config = _pricing(tmp_path, "pricing: {hook: per_call, params: {credits_per_call: 250}}\n")
    charges = _charges(settings, config)
    assert charges[("u1", "c1")]["amount_credits"] == 2 * 250
    assert charges[("u2", "c2")]["amount_credits"] == 250  # April is another period
    anonymous = charges[(None, "c1")]
    assert anonymous["amount_credits"] is None and anonymous["reason"] == "anonymous_usage"
    assert len({r["ref"] for r in charges.values()}) == 3


def test_per_model_dated_prices_cached_tokens_rounding_and_unpriced(
    settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "prices.csv").write_text(
        "model_id,effective_from,input_per_million,output_per_million,cached_input_per_million\n"
        "m1,2026-01-01,2.50,10.00,1.25\n"
        "m1,2026-03-15,2.00,8.00,\n"
        "m2,2026-03-10,0.15,0.60,\n"
    )
    write_events(settings, [
        # m1 before the change: 1000 plain + 200 cached input, 333 output
        event("2026-03-14", "u1", model="m1", inp=1200, cached=200, out=333),
        # m1 after the change (no cached price: cached tokens are plain input)
        event("2026-03-20", "u1", model="m1", inp=501, cached=100, out=0),
        # m2 before its first price -> unpriced, then priced
        event("2026-03-09", "u1", model="m2", inp=10, out=10),
        event("2026-03-10", "u1", model="m2", inp=3, out=1),
        event("2026-03-11", "u1", model=None, inp=5),
    ])
    config = _pricing(tmp_path, "pricing: {hook: per_model, params: {prices: prices.csv}}\n")
    run = run_hook(config.pricing, MARCH, settings.events_location(), CHARGE_SCHEMA, "pricing")
    lines = run.table.to_pylist()
    priced = sorted(r["amount_credits"] for r in lines if r["amount_credits"] is not None)
    # credits = tokens x USD per million tokens (1 USD = 1e6 credits), half up per line:
    # m1 old: 1000*2.50 + 200*1.25 + 333*10.00 = 2500 + 250 + 3330 = 6080
    # m1 new: 501*2.00 = 1002
    # m2:     3*0.15 + 1*0.60 = 1.05 -> 1
    assert priced == [1, 1002, 6080]
    unpriced = {r["reason"] for r in lines if r["amount_credits"] is None}
    assert unpriced == {"no_price: m2 has no price in effect on 2026-03-09", "no_model_id"}
    assert all(r["description"] for r in lines)


def test_half_up_rounding_at_exactly_half(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "prices.csv").write_text(
        "model_id,effective_from,input_per_million,output_per_million\nm,2026-01-01,0.5,0\n"
    )
    write_events(settings, [event("2026-03-02", "u1", model="m", inp=5)])  # 2.5 credits
    config = _pricing(tmp_path, "pricing: {hook: per_model, params: {prices: prices.csv}}\n")
    assert _charges(settings, config)[("u1", "c1")]["amount_credits"] == 3


def test_quota_plan_and_included_overage(settings: Settings, tmp_path: Path) -> None:
    write_events(settings, [event("2026-03-02", "u1", inp=700, out=800)] +
                 [event("2026-03-03", "u2", inp=10, out=10)])
    config = _pricing(tmp_path, "pricing: {hook: quota_plan, params: {plan_credits: 9000000,"
                                " included: 1000, unit: tokens}}\n")
    plan = _charges(settings, config)
    assert plan[("u1", "c1")]["amount_credits"] == 9_000_000
    assert "500 over quota" in plan[("u1", "c1")]["description"]
    config = _pricing(tmp_path, "pricing: {hook: included_overage, params: {included: 1000,"
                                " overage_credits: '2.5', per_units: 3, base_credits: 100}}\n")
    over = _charges(settings, config)
    # 500 tokens over; 500 * 2.5 / 3 = 416.67 -> 417; + 100 base
    assert over[("u1", "c1")]["amount_credits"] == 517
    assert over[("u2", "c1")]["amount_credits"] == 100


def test_record_errors_false_leaves_error_calls_out(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_events(settings, [event("2026-03-02", "u1", status="error", inp=100),
                            event("2026-03-02", "u1", inp=1)])
    config = _pricing(tmp_path, "pricing: {hook: quota_plan, params: {plan_credits: 1,"
                                " included: 1, unit: calls}}\n")
    monkeypatch.setenv("CITY_USAGE_RECORD_ERRORS", "false")
    charges = _charges(Settings.from_env(), config)
    assert "1 used" in charges[("u1", "c1")]["description"]


def test_entitlements_per_user_with_overrides(settings: Settings, tmp_path: Path) -> None:
    write_events(settings, [event("2026-03-02", "u1", city="a")] * 1 +
                 [event("2026-03-03", "u1", city="b") for _ in range(4)] +
                 [event("2026-03-03", "u2") for _ in range(2)])
    config = _pricing(tmp_path, "entitlements: {hook: plan_limits, params: {scope: user,"
                                " unit: calls, included: 3, limit: 4,"
                                " overrides: {u2: {included: 10}}}}\n")
    with connect(settings.warehouse) as conn:
        build_entitlements(conn, config.entitlements, MARCH, settings.events_location())
        rows = conn.execute("SELECT subject_id, included, limit_value, used, remaining, overage,"
                            " over_limit FROM entitlement_status ORDER BY 1").fetchall()
    assert rows == [("u1", 3, 4, 5, 0, 2, True), ("u2", 10, 10, 2, 8, 0, False)]


def test_user_hook_returning_polars_and_bad_results(settings: Settings, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_pricing.py").write_text(
        "import polars as pl\n"
        "grain = ('user_id', 'city_id', 'model_id')\n"
        "def price(usage, context):\n"
        "    df = pl.from_arrow(usage)\n"
        "    return df.group_by('user_id', 'city_id').agg(pl.col('calls').sum()).select(\n"
        "        'user_id', 'city_id', (pl.col('calls') * context.params['rate'])\n"
        "        .alias('amount_credits'), pl.lit('custom').alias('description'),\n"
        "        pl.concat_str(pl.lit('r:'), 'user_id').alias('ref'))\n"
        "price.grain = grain\n"
        "def broken(usage, context):\n"
        "    return [{'user_id': 'u', 'city_id': 'c', 'amount_credits': 1.5,\n"
        "             'description': 'x', 'ref': 'r'}]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    write_events(settings, [event("2026-03-02", "u1"), event("2026-03-02", "u1", model="m2")])
    config = _pricing(tmp_path, "pricing: {hook: 'my_pricing:price', params: {rate: 7}}\n")
    with connect(settings.warehouse) as conn:
        run = build_charges(conn, config.pricing, MARCH, settings.events_location())
        assert run.grain == ("user_id", "city_id", "model_id")
        stored = conn.execute("SELECT user_id, amount_credits, ref, hook FROM charges").fetchall()
        assert stored == [("u1", 14, "r:u1", "my_pricing:price")]
        assert charge_problems(conn, MARCH) == {
            "null_amount_without_reason": 0, "duplicate_refs": 0, "negative_amounts": 0}
    config = _pricing(tmp_path, "pricing: {hook: 'my_pricing:broken'}\n")
    with pytest.raises(HookResultError, match="amount_credits must be an integer, got 1.5"):
        run_hook(config.pricing, MARCH, settings.events_location(), CHARGE_SCHEMA, "pricing")


def test_rebuilding_a_period_replaces_it(settings: Settings, tmp_path: Path) -> None:
    config = _pricing(tmp_path, "pricing: {hook: per_call, params: {credits_per_call: 1}}\n")
    write_events(settings, [event("2026-03-02", "u1")])
    with connect(settings.warehouse) as conn:
        build_charges(conn, config.pricing, MARCH, settings.events_location())
        write_events(settings, [event("2026-03-02", "u1"), event("2026-03-02", "u1")])
        build_charges(conn, config.pricing, MARCH, settings.events_location())
        assert conn.execute("SELECT count(*), sum(amount_credits) FROM charges").fetchall() == [
            (1, 2)]
