"""The usage schedules ask for the right partitions: yesterday's day, and the month that
contains yesterday (so on the 1st the month that just closed is refreshed once more)."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from pipelines.definitions import defs


def _requests(name: str, when: datetime) -> list[dg.RunRequest]:
    schedule = defs.resolve_schedule_def(name)
    context = dg.build_schedule_context(
        scheduled_execution_time=when, repository_def=defs.get_repository_def()
    )
    result = schedule.evaluate_tick(context)
    return list(result.run_requests or [])


@pytest.mark.parametrize(
    ("when", "day"),
    [
        (datetime(2026, 3, 15, 0, 20, tzinfo=UTC), "2026-03-14"),
        (datetime(2026, 3, 1, 0, 20, tzinfo=UTC), "2026-02-28"),
        (datetime(2028, 3, 1, 0, 20, tzinfo=UTC), "2028-02-29"),
    ],
)
def test_daily_schedule_builds_yesterday(when, day):
    requests = _requests("usage_daily_schedule", when)
    assert [r.partition_key for r in requests] == [day]


@pytest.mark.parametrize(
    ("when", "month"),
    [
        (datetime(2026, 3, 15, 0, 40, tzinfo=UTC), "2026-03-01"),
        (datetime(2026, 3, 1, 0, 40, tzinfo=UTC), "2026-02-01"),
        (datetime(2027, 1, 1, 0, 40, tzinfo=UTC), "2026-12-01"),
    ],
)
def test_monthly_refresh_targets_the_month_of_yesterday(when, month):
    requests = _requests("usage_monthly_refresh", when)
    assert [r.partition_key for r in requests] == [month]
