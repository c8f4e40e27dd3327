"""Through the real pipeline: sample landing -> Dagster materialize (usage_events, daily and
monthly summaries) -> the read surface. Every planned answer equals the events answer."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from assets.usage import definitions as usage_defs
from tests.dagster_runs import materialize_days, resources
from usage_model import read
from usage_model.read import source_of
from usage_model.usage.sample import write_sample_landing

END = date(2026, 3, 2)
START = date(2026, 2, 24)


@pytest.fixture
def built(settings, dagster_instance):
    write_sample_landing(settings.usage_landing, days=7, events_per_day=300, seed=90210, end=END)
    assert materialize_days(settings, dagster_instance, START, END).success
    for month in ("2026-02-01", "2026-03-01"):
        result = dg.materialize([usage_defs.monthly_summaries], partition_key=month,
                                instance=dagster_instance, resources=resources(settings))
        assert result.success
    return settings


def test_reads_over_the_real_pipeline(built):
    cases = [
        dict(by=None),
        dict(by=("model_id",), start="2026-02-01", end="2026-03-01"),
        dict(by=("model_id",), granularity="day", measures=["all"]),
        dict(by=("city_id",), granularity="week"),
        dict(by=("city_id", "user_id"), start="2026-02-26", end="2026-03-02"),
        dict(by=(), start="2026-02-01", end="2026-03-01"),
        dict(by=("city_id",), granularity="month", start="2026-02-01", end="2026-04-01"),
    ]
    sources = set()
    for case in cases:
        by = case.pop("by")
        auto = read.summary(by, settings=built, **case)
        raw = read.summary(by, settings=built, source="events", **case)
        assert auto.num_rows > 0 and auto.equals(raw), (by, case, source_of(auto))
        sources.add(source_of(auto))
    assert {"usage_daily_by_service", "usage_monthly_by_model,usage_daily_by_model",
            "usage_daily_by_model"} <= sources
    total = read.summary((), settings=built, measures=["calls"]).column("calls")[0].as_py()
    paged = 0
    cursor = None
    while True:
        page = read.events(settings=built, limit=500, after=cursor)
        paged += page.num_rows
        if (cursor := read.next_cursor(page)) is None:
            break
    assert paged == total
