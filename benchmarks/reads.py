"""Item 5: `summary` latency (one calendar month by model) from the pre-aggregates the
pipeline built, against the same answer from raw curated events. Reuses the read benchmark's
timing (`benchmarks/read_bench.py`, which holds the 100M-event figure)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from benchmarks import data
from benchmarks.measure import run_task

REPEAT = 50
EVENTS_REPEAT = 5


def time_reads(month: date, repeat: int, events_repeat: int) -> dict:
    """Runs inside a worker: warm-up, then `repeat` planned reads and `events_repeat` raw."""
    from benchmarks.read_bench import percentile, timed
    from usage_model import read
    from usage_model.config import Settings

    end = (month + timedelta(days=32)).replace(day=1)
    query = {"by": ("model_id",), "start": month, "end": end, "settings": Settings.from_env()}
    pre, pre_answer = timed(lambda: read.summary(**query), repeat)
    raw, raw_answer = timed(lambda: read.summary(**query, source="events"), events_repeat)
    return {
        "month": month.isoformat(),
        "month_events": sum(pre_answer.column("calls").to_pylist()),
        "preaggregate_ms": {"p50": round(percentile(pre, 0.5), 2),
                            "p95": round(percentile(pre, 0.95), 2), "n": len(pre)},
        "events_ms": {"p50": round(percentile(raw, 0.5), 1),
                      "p95": round(percentile(raw, 0.95), 1), "n": len(raw)},
        "speedup_p50": round(percentile(raw, 0.5) / percentile(pre, 0.5), 1),
        "same_answer": pre_answer.equals(raw_answer),
    }


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _last_full_month(last: date) -> date:
    """The latest month whose every day is built (days start at data.FIRST_DAY)."""
    month = data.FIRST_DAY.replace(day=1)
    while _next_month(_next_month(month)) <= last + timedelta(days=1):
        month = _next_month(month)
    return month


def run(root: Path, env: dict, days_built: int) -> dict:
    """Monthly rollups through the real pipeline, then the timed reads in a fresh process."""
    last = data.day_of(days_built - 1)
    months = {"first": data.FIRST_DAY.replace(day=1).isoformat(),
              "last": last.replace(day=1).isoformat()}
    run_task("pipeline", {**months, "assets": "monthly"}, env)
    month = _last_full_month(last)
    return run_task("reads", {"month": month.isoformat(), "repeat": REPEAT,
                                "events_repeat": EVENTS_REPEAT}, env)
