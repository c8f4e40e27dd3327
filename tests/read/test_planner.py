"""The planner's rule table: which source answers which request, and why."""

from __future__ import annotations

from datetime import date

import pytest

from usage_model import read
from usage_model.read import build_summary_request, plan_summary

FEB, MAR = date(2026, 2, 1), date(2026, 3, 1)


NOT_ADDITIVE = {"distinct_users", "distinct_cities", "p50_latency_ms", "p95_latency_ms"}
FILTERS = ("city_id", "user_id", "model_id", "service", "status", "provider")


def plan(by=("model_id",), **kw):
    filters = {k: kw.pop(k) for k in FILTERS if k in kw}
    return plan_summary(build_summary_request(by, filters=filters, **kw))


def methods(p) -> dict[str, tuple[str, str]]:
    return {m: (part.source_name, how) for part in p.parts for m, how in part.methods}


def test_one_month_by_model_uses_monthly_rollup_and_daily_sums():
    p = plan(start=FEB, end=MAR)
    got = methods(p)
    assert got["distinct_users"] == ("usage_monthly_by_model", "stored")
    assert got["distinct_cities"] == ("usage_monthly_by_model", "stored")
    assert got["calls"] == ("usage_monthly_by_model", "sum")
    # the monthly table has no cached/reasoning tokens: summed from the daily table
    assert got["cached_input_tokens"] == ("usage_daily_by_model", "sum")
    assert got["reasoning_tokens"] == ("usage_daily_by_model", "sum")
    assert not p.from_events


def test_daily_by_model_serves_everything_per_day_including_percentiles():
    p = plan(granularity="day", measures=["all"], start=FEB, end=MAR)
    assert p.sources == ("usage_daily_by_model",)
    got = methods(p)
    assert got["p95_latency_ms"][1] == "stored" and got["distinct_users"][1] == "stored"


@pytest.mark.parametrize("granularity", ["week", "total"])
def test_distinct_users_over_days_is_never_a_sum(granularity):
    # Feb 3 .. Mar 1 is not whole months; by model there is no user-keyed table to count from
    p = plan(start=date(2026, 2, 3), end=MAR, granularity=granularity)
    assert p.from_events
    assert "distinct_users" in p.reason and "not additive" in p.reason
    assert "--explain" not in p.explain() and p.explain().startswith("source: events")


def test_two_whole_months_total_is_not_one_monthly_row():
    p = plan(start=date(2026, 1, 1), end=MAR)
    assert p.from_events  # distinct users over two months is not the sum of two months


def test_two_whole_months_by_month_uses_monthly_rows():
    p = plan(start=date(2026, 1, 1), end=MAR, granularity="month",
             measures=["calls", "distinct_users"])
    assert p.sources == ("usage_monthly_by_model",)


def test_distinct_users_by_city_any_range_counts_user_keys():
    p = plan(("city",), start=date(2026, 2, 3), end=date(2026, 2, 19), granularity="week")
    assert p.sources == ("usage_daily_by_user",)
    assert methods(p)["distinct_users"] == ("usage_daily_by_user", "count_distinct")


def test_filter_outside_the_key_goes_to_events():
    p = plan(("city",), model_id="m1")
    assert p.from_events and "no pre-aggregate is keyed by all of (city_id, model_id)" in p.reason


def test_city_user_grouping_uses_user_table():
    p = plan(("city", "user"), start=FEB, end=date(2026, 2, 10))
    assert p.sources == ("usage_daily_by_user",)
    # distinct counts of a key are meaningless, so only the additive measures remain
    assert p.request.measures == ("calls", "success_calls", "error_calls", "input_tokens",
                                  "output_tokens", "cached_input_tokens", "reasoning_tokens",
                                  "cost_credits")


def test_one_table_serving_every_measure_beats_a_join():
    # the monthly user table lacks cached/reasoning tokens; the daily one alone has them all
    p = plan(("city", "user"), start=FEB, end=MAR)
    assert p.sources == ("usage_daily_by_user",)
    p = plan(("city", "user"), start=FEB, end=MAR, measures=["calls", "cost_credits"])
    assert p.sources == ("usage_monthly_by_user",)


def test_overview_is_downcity_shape_from_service_table():
    p = plan(None)
    assert p.request.dims == ("city_id", "service", "status")
    assert p.request.measures == ("calls", "input_tokens", "output_tokens")
    assert p.sources == ("usage_daily_by_service",)


def test_status_filter_needs_status_key():
    assert plan(("city",), status="error", measures=["calls"]).sources == (
        "usage_daily_by_service",)
    assert plan(("city",), status="error").from_events  # success_calls etc. not in that table


def test_percentiles_over_weeks_go_to_events():
    p = plan(granularity="week", measures=["p50_latency_ms"])
    assert p.from_events and "p50_latency_ms is not additive" in p.reason


def test_provider_only_from_events():
    assert plan(("provider",)).from_events


def test_forced_events_source():
    p = plan_summary(build_summary_request(("model_id",)), "events")
    assert p.from_events and "asked for events" in p.reason


GRID = [
    dict(by=by, granularity=g, start=s, end=e)
    for by in [(), ("model_id",), ("city_id",), ("city_id", "user_id"), ("user_id",),
               ("service",), ("city_id", "service", "status"), ("model_id", "city_id")]
    for g in ("day", "week", "month", "total")
    for s, e in [(FEB, MAR), (date(2026, 2, 3), MAR), (None, None), (FEB, date(2026, 4, 1))]
]


@pytest.mark.parametrize("case", GRID)
def test_no_plan_sums_a_non_additive_measure(case):
    by = case.pop("by")
    p = plan(by, measures=["all"], **case)
    for part in p.parts:
        for measure, how in part.methods:
            if measure in NOT_ADDITIVE:
                assert how != "sum"
            if how == "stored":  # one stored row per output group and bucket
                assert set(p.request.dims) == part.aggregate.key


def test_a_misspelled_argument_is_refused_as_a_signature_would():
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\): citi_id"):
        read.plan(("city",), citi_id="c1")
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\): limt"):
        read.events(limt=5)
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\): granularity"):
        read.stream_events(granularity="day")  # a summary argument, not an events one
