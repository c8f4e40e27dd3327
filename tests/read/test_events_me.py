"""`events` (stable cursor paging, filters, instants) and `me` (one user, one city only)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from tests.read.conftest import make_settings
from tests.read.fixture import at, write_curated
from usage_model import read
from usage_model.read import BadRequest, next_cursor, source_of


def order_key(row):
    return (row["occurred_at"], row["event_id"])


def page_through(settings, limit, **kw):
    seen, cursor, pages = [], None, 0
    while True:
        page = read.events(settings=settings, limit=limit, after=cursor, **kw)
        assert page.num_rows <= limit
        seen += page.to_pylist()
        pages += 1
        cursor = next_cursor(page)
        if cursor is None:
            return seen, pages


def test_paging_visits_every_event_once_in_order(history, sample_rows_list):
    seen, pages = page_through(history, 97)
    expected = sorted(sample_rows_list, key=order_key)
    assert [r["event_id"] for r in seen] == [r["event_id"] for r in expected]
    assert pages == len(expected) // 97 + 1


def test_cursor_is_stable_and_resumes_after_the_last_row(history):
    first = read.events(settings=history, limit=10)
    cursor = next_cursor(first)
    again = read.events(settings=history, limit=10, after=cursor)
    assert again.equals(read.events(settings=history, limit=10, after=cursor))
    bigger = read.events(settings=history, limit=25, after=cursor)
    assert bigger.slice(0, 10).to_pylist() == again.to_pylist()
    assert read.events(settings=history, limit=20).slice(10).to_pylist() == again.to_pylist()


def test_ties_on_occurred_at_are_ordered_by_event_id(tmp_path):
    settings = make_settings(tmp_path)
    same = at("2026-02-01 12:00")
    write_curated(settings, [dict(event_id=f"t{i}", occurred_at=same, city_id="c", status="success")
                             for i in (5, 1, 4, 2, 3)])
    seen, _ = page_through(settings, 2)
    assert [r["event_id"] for r in seen] == ["t1", "t2", "t3", "t4", "t5"]


def test_filters_and_instant_ranges(history, sample_rows_list):
    start, end = datetime(2026, 2, 1, 12, 30, tzinfo=UTC), datetime(2026, 2, 9, 6, tzinfo=UTC)
    seen, _ = page_through(history, 50, start="2026-02-01T12:30:00Z",
                           end="2026-02-09T08:00:00+02:00", city_id="c2", status="error")
    expected = sorted((r for r in sample_rows_list if start <= r["occurred_at"] < end
                       and r["city_id"] == "c2" and r["status"] == "error"), key=order_key)
    assert expected and [r["event_id"] for r in seen] == [r["event_id"] for r in expected]


def test_naive_instant_is_utc_and_dates_are_local_midnight(tmp_path):
    settings = replace(make_settings(tmp_path), timezone="America/New_York")
    write_curated(settings, [
        dict(event_id="a", occurred_at=at("2026-02-02 03:00"), city_id="c", status="success"),
        dict(event_id="b", occurred_at=at("2026-02-02 06:00"), city_id="c", status="success")])
    ids = lambda **kw: [r["event_id"] for r in read.events(settings=settings, **kw).to_pylist()]  # noqa: E731
    assert ids(start="2026-02-01", end="2026-02-02") == ["a"]  # Feb 1 in New York
    assert ids(start="2026-02-02T05:00:00") == ["b"]
    assert ids(start=date(2026, 2, 2)) == ["b"]  # 05:00 UTC


def test_every_status_is_returned_and_columns_are_curated(history):
    page = read.events(settings=history, limit=500)
    assert Counter(page.column("status").to_pylist()).keys() == {"success", "error"}
    assert page.schema.names[:3] == ["event_id", "occurred_at", "day"]


def test_event_filters_are_bound(history):
    assert read.events(settings=history, user_id="u1' OR '1'='1").num_rows == 0


def test_no_events_at_all(tmp_path):
    page = read.events(settings=make_settings(tmp_path))
    assert page.num_rows == 0 and next_cursor(page) is None


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(after="not-a-cursor"), "bad cursor"),
    (dict(after="eyJ2Ijo5fQ"), "bad cursor"),
    (dict(limit=0), "bad --limit 0"),
    (dict(start="yesterday"), "bad --from 'yesterday'"),
    (dict(end="03/05/2026 10:00"), "bad --to '03/05/2026 10:00'"),
    (dict(start="2026-02-02", end="2026-02-01"), "empty range"),
])
def test_bad_event_requests(history, kwargs, message):
    with pytest.raises(BadRequest) as info:
        read.events(settings=history, **kwargs)
    assert message in str(info.value)


def test_me_is_one_row_per_day_for_that_user_in_that_city(history, sample_rows_list):
    t = read.me("c1", "u3", start="2026-02-01", end="2026-02-15", settings=history)
    assert source_of(t) == "usage_daily_by_user"
    per_day = Counter(r["occurred_at"].date() for r in sample_rows_list
                      if r["city_id"] == "c1" and r["user_id"] == "u3"
                      and date(2026, 2, 1) <= r["occurred_at"].date() < date(2026, 2, 15))
    assert [(r["day"], r["calls"]) for r in t.to_pylist()] == sorted(per_day.items())
    assert {(r["city_id"], r["user_id"]) for r in t.to_pylist()} == {("c1", "u3")}
    assert t.column_names[:3] == ["day", "city_id", "user_id"]


def test_me_never_sees_another_city_or_user(tmp_path):
    settings = make_settings(tmp_path)
    write_curated(settings, [
        dict(event_id="mine", occurred_at=at("2026-02-01 10:00"), city_id="c1", user_id="u1",
             status="success", input_tokens=5),
        dict(event_id="same-user-other-city", occurred_at=at("2026-02-01 11:00"),
             city_id="c2", user_id="u1", status="success", input_tokens=7),
        dict(event_id="other-user", occurred_at=at("2026-02-01 12:00"), city_id="c1",
             user_id="U1", status="success", input_tokens=9)])
    from tests.read.fixture import build_summaries
    build_summaries(settings)
    t = read.me("c1", "u1", settings=settings)
    assert [(r["city_id"], r["user_id"], r["calls"], r["input_tokens"]) for r in t.to_pylist()] \
        == [("c1", "u1", 1, 5)]
    for city, user in [("c1", "x' OR 1=1 --"), ("c1' OR '1'='1", "u1"), ("c1", "u1' --")]:
        assert read.me(city, user, settings=settings).num_rows == 0
    for city, user in [("", "u1"), ("c1", ""), ("c1", None)]:
        with pytest.raises(BadRequest):
            read.me(city, user, settings=settings)
