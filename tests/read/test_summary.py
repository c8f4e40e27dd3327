"""`summary`: hand-computed answers, pre-aggregates == events, filters, bad input."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import polars as pl
import pytest

from tests.read.conftest import make_settings
from tests.read.fixture import at, build_summaries, write_curated
from usage_model import read
from usage_model.read import BadRequest, source_of

FEB, MAR = date(2026, 2, 1), date(2026, 3, 1)


def ev(eid, when, city, user, model, service="chat", status="success", inp=0, out=0,
       cost=None, latency=None, tz="UTC"):
    return dict(event_id=eid, occurred_at=at(when, tz), city_id=city, user_id=user,
                model_id=model, service=service, status=status, input_tokens=inp,
                output_tokens=out, cost_credits=cost, latency_ms=latency)


SMALL = [
    ev("e1", "2026-02-01 10:00", "c1", "u1", "m1", inp=100, out=10, cost=5, latency=100.0),
    ev("e2", "2026-02-01 11:00", "c1", "u2", "m1", status="error", inp=50, latency=300.0),
    ev("e3", "2026-02-02 09:00", "c1", "u1", "m1", "embed", inp=10, out=1, cost=1, latency=200.0),
    ev("e4", "2026-02-02 09:30", "c2", None, None, inp=7, out=3, cost=2),
    ev("e5", "2026-02-03 00:00", "c2", "u1", "m2", inp=1, out=1, cost=0, latency=50.0),
    ev("e6", "2026-01-31 23:59", "c1", "u1", "m1", inp=1000),
]


@pytest.fixture
def small(tmp_path):
    settings = make_settings(tmp_path)
    write_curated(settings, SMALL)
    build_summaries(settings)
    return settings


def rows(table, *cols):
    return [tuple(r[c] for c in cols) for r in table.to_pylist()]


def both(settings, *args, **kw):
    """The planned answer, checked equal to the same answer straight from events."""
    auto = read.summary(*args, settings=settings, **kw)
    raw = read.summary(*args, settings=settings, source="events", **kw)
    assert auto.equals(raw), (source_of(auto), auto.to_pylist(), raw.to_pylist())
    return auto


def test_by_model_total_is_exact_and_half_open(small):
    t = both(small, ("model",), start="2026-02-01", end="2026-02-03")
    assert t.column_names[:4] == ["model_id", "calls", "success_calls", "error_calls"]
    got = rows(t, "model_id", "calls", "success_calls", "error_calls", "input_tokens",
               "output_tokens", "cost_credits", "distinct_users", "distinct_cities")
    # e5 is on the end day and e6 before the start: both out. Null model is its own group.
    # m1 has u1 on both days and u2 on one: 2 distinct users, not 2 + 1.
    assert got == [("m1", 3, 2, 1, 160, 11, 6, 2, 1), (None, 1, 1, 0, 7, 3, 2, 0, 1)]


def test_by_model_per_day_with_percentiles(small):
    t = both(small, ("model_id",), start=FEB, end=date(2026, 2, 3), granularity="day",
             measures=["calls", "distinct_users", "p50_latency_ms", "p95_latency_ms"])
    assert source_of(t) == "usage_daily_by_model"
    assert t.column_names == ["day", "model_id", "calls", "distinct_users", "p50_latency_ms",
                              "p95_latency_ms"]
    assert t.to_pylist() == [
        dict(day=FEB, model_id="m1", calls=2, distinct_users=2, p50_latency_ms=200.0,
             p95_latency_ms=290.0),
        dict(day=date(2026, 2, 2), model_id="m1", calls=1, distinct_users=1,
             p50_latency_ms=200.0, p95_latency_ms=200.0),
        dict(day=date(2026, 2, 2), model_id=None, calls=1, distinct_users=0,
             p50_latency_ms=None, p95_latency_ms=None),
    ]


def test_whole_month_comes_from_monthly_rollup(small):
    t = both(small, ("model",), start=FEB, end=MAR, measures=["calls", "distinct_users"])
    assert source_of(t) == "usage_monthly_by_model"
    assert rows(t, "model_id", "calls", "distinct_users") == [
        ("m1", 3, 2), ("m2", 1, 1), (None, 1, 0)]


def test_overview_is_downcity_count_per_city_service_status(small):
    t = both(small, None, start=FEB, end=date(2026, 2, 3))
    assert source_of(t) == "usage_daily_by_service"
    assert rows(t, "city_id", "service", "status", "calls") == [
        ("c1", "chat", "error", 1), ("c1", "chat", "success", 1),
        ("c1", "embed", "success", 1), ("c2", "chat", "success", 1)]


def test_weeks_start_monday_and_are_clipped_to_the_range(small):
    t = both(small, ("city",), start=FEB, end=date(2026, 2, 4), granularity="week",
             measures=["calls", "distinct_users"])
    # 2026-02-01 is a Sunday: its week starts 2026-01-26 (only Feb 1 is inside the range)
    assert rows(t, "period", "city_id", "calls", "distinct_users") == [
        (date(2026, 1, 26), "c1", 2, 2), (date(2026, 2, 2), "c1", 1, 1),
        (date(2026, 2, 2), "c2", 2, 1)]


def test_grand_total(small):
    t = both(small, (), start=FEB, end=MAR)
    assert rows(t, "calls", "distinct_users", "distinct_cities", "input_tokens") == [
        (5, 2, 2, 168)]


def test_record_errors_false_leaves_errors_out_everywhere(tmp_path):
    settings = replace(make_settings(tmp_path), record_errors=False)
    write_curated(settings, SMALL)
    build_summaries(settings, record_errors=False)
    t = both(settings, ("model",), start=FEB, end=MAR, granularity="month",
             measures=["calls", "error_calls", "distinct_users"])
    assert rows(t, "period", "model_id", "calls", "error_calls", "distinct_users") == [
        (FEB, "m1", 2, 0, 1), (FEB, "m2", 1, 0, 1), (FEB, None, 1, 0, 0)]
    assert read.events(settings=settings, status="error").num_rows == 1  # events keep all


EVIL = ["x' OR 1=1 --", "m1' --", "'; DROP TABLE usage_daily_by_model; --", "m1\x00", "%",
        "m1 "]


@pytest.mark.parametrize("evil", EVIL)
def test_filters_are_bound_parameters(small, evil):
    for source in ("auto", "events"):
        t = read.summary(("model",), model_id=evil, settings=small, source=source)
        assert t.num_rows == 0 and "calls" in t.column_names
        t = read.summary(("city", "user"), user_id=evil, settings=small, source=source)
        assert t.num_rows == 0
    assert read.summary(("model",), settings=small).num_rows == 3  # tables intact


def test_no_rows_no_groups(small):
    t = both(small, ("model",), start="2027-01-01", end="2027-02-01")
    assert t.num_rows == 0 and t.column_names[0] == "model_id"
    t = both(small, (), start="2027-01-01", end="2027-01-05")  # not a row of zeros
    assert t.num_rows == 0


def test_arrow_answer_converts_to_polars(small):
    frame = pl.from_arrow(read.summary(("model",), granularity="day", settings=small))
    assert frame.schema["day"] == pl.Date and frame.schema["calls"] == pl.Int64
    assert frame["calls"].sum() == len(SMALL)


def test_days_follow_the_configured_time_zone(tmp_path):
    settings = replace(make_settings(tmp_path), timezone="America/New_York")
    # 03:00 UTC on Feb 2 is still Feb 1 in New York
    write_curated(settings, [ev("n1", "2026-02-02 03:00", "c1", "u1", "m1")])
    build_summaries(settings)
    t = both(settings, ("model",), start=FEB, end=date(2026, 2, 2), granularity="day")
    assert rows(t, "day", "calls") == [(FEB, 1)]


def test_events_only_when_the_warehouse_is_not_needed(small):
    # a filter outside every pre-aggregate's key: answered from events
    t = read.summary(("city",), model_id="m1", settings=small)
    assert source_of(t) == "events"
    assert rows(t, "city_id", "calls") == [("c1", 4)]


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(by=("planet",)), "unknown --by dimension 'planet'; valid: city, model, provider,"),
    (dict(by="model,model"), "given twice"),
    (dict(start="2026-02-30"), "bad --from '2026-02-30': expected a date YYYY-MM-DD"),
    (dict(end="03/05/2026"), "bad --to '03/05/2026'"),
    (dict(start="yesterday"), "bad --from 'yesterday'"),
    (dict(start=datetime(2026, 2, 1, 10)), "expected a date"),
    (dict(start="2026-02-05", end="2026-02-05"), "empty range"),
    (dict(granularity="year"), "unknown granularity 'year'; valid: day, week, month, total"),
    (dict(measures=["calls", "vibes"]), "unknown measure 'vibes'"),
    (dict(model_id=42), "filter model_id must be text"),
    (dict(source="cache"), "unknown source 'cache'"),
])
def test_bad_requests_say_what_is_valid(small, kwargs, message):
    with pytest.raises(BadRequest, match=None) as info:
        read.summary(settings=small, **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)


DIMS = [(), ("model_id",), ("city_id",), ("user_id",), ("city_id", "user_id"), ("service",),
        ("status",), ("city_id", "service", "status"), ("provider",), ("model_id", "city_id")]
RANGES = [(FEB, MAR), (date(2026, 2, 3), date(2026, 2, 20)), (None, None),
          (date(2026, 1, 1), MAR)]


@pytest.mark.parametrize("dims", DIMS)
def test_every_planned_answer_equals_the_events_answer(history, dims):
    """Sample history with nulls and errors: whatever the plan, the answer is the events'."""
    from_aggregates = 0
    for granularity in ("day", "week", "month", "total"):
        for start, end in RANGES:
            for measures in (["all"], None) if granularity == "total" else (["all"],):
                t = both(history, dims, start=start, end=end, granularity=granularity,
                         measures=measures)
                assert t.num_rows > 0
                from_aggregates += source_of(t) != "events"
    if set(dims) <= {"city_id", "user_id"} or dims == ("model_id",):
        assert from_aggregates > 0


@pytest.mark.parametrize("filters", [dict(city_id="c2"), dict(user_id="u3"),
                                     dict(model_id="m2"), dict(status="error"),
                                     dict(service="embed"), dict(city_id="c1", user_id="u1")])
def test_filtered_answers_equal_events(history, filters):
    for dims in [(), ("city_id",), ("model_id",), ("city_id", "user_id")]:
        for granularity in ("day", "month", "total"):
            both(history, dims, start=FEB, end=MAR, granularity=granularity, **filters)
