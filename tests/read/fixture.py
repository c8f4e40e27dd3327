"""Test data for the read surface: curated day files and summary tables built from them.

The summary SQL here is the tests' own, independent of `usage_model.read` and written from
docs/tables.md's table contracts, so the planner's pre-aggregate answers can be checked against the
events and against hand-computed values. The benchmark reuses it to build 100M-event history.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq

from usage_model.config import Settings
from usage_model.usage import layout
from usage_model.usage.event_model import CURATED_SCHEMA
from usage_model.warehouse import connect

_MEASURES = """
    count(*) AS calls,
    count(*) FILTER (WHERE status = 'success') AS success_calls,
    count(*) FILTER (WHERE status = 'error') AS error_calls,
    sum(input_tokens)::BIGINT AS input_tokens,
    sum(output_tokens)::BIGINT AS output_tokens,
    sum(cached_input_tokens)::BIGINT AS cached_input_tokens,
    sum(reasoning_tokens)::BIGINT AS reasoning_tokens,
    coalesce(sum(cost_credits), 0)::BIGINT AS cost_credits"""
_MONTHLY_MEASURES = """
    count(*) AS calls,
    count(*) FILTER (WHERE status = 'success') AS success_calls,
    count(*) FILTER (WHERE status = 'error') AS error_calls,
    sum(input_tokens)::BIGINT AS input_tokens,
    sum(output_tokens)::BIGINT AS output_tokens,
    coalesce(sum(cost_credits), 0)::BIGINT AS cost_credits"""
_LATENCY = """
    quantile_cont(latency_ms, 0.5) AS p50_latency_ms,
    quantile_cont(latency_ms, 0.95) AS p95_latency_ms"""

SUMMARY_INSERTS = {
    "usage_daily_by_model": f"""
        SELECT day, model_id, {_MEASURES}, count(DISTINCT user_id) AS distinct_users,
               count(DISTINCT city_id) AS distinct_cities, {_LATENCY}
        FROM ev GROUP BY day, model_id""",
    "usage_daily_by_city": f"""
        SELECT day, city_id, {_MEASURES}, count(DISTINCT user_id) AS distinct_users, {_LATENCY}
        FROM ev GROUP BY day, city_id""",
    "usage_daily_by_user": f"""
        SELECT day, city_id, user_id, {_MEASURES} FROM ev GROUP BY day, city_id, user_id""",
    "usage_daily_by_service": """
        SELECT day, city_id, service, status, count(*) AS calls,
               sum(input_tokens)::BIGINT AS input_tokens,
               sum(output_tokens)::BIGINT AS output_tokens
        FROM ev GROUP BY day, city_id, service, status""",
    "usage_monthly_by_model": f"""
        SELECT date_trunc('month', day)::DATE AS period, model_id, {_MONTHLY_MEASURES},
               count(DISTINCT user_id) AS distinct_users, count(DISTINCT city_id) AS distinct_cities
        FROM ev GROUP BY ALL""",
    "usage_monthly_by_city": f"""
        SELECT date_trunc('month', day)::DATE AS period, city_id, {_MONTHLY_MEASURES},
               count(DISTINCT user_id) AS distinct_users
        FROM ev GROUP BY ALL""",
    "usage_monthly_by_user": f"""
        SELECT date_trunc('month', day)::DATE AS period, city_id, user_id, {_MONTHLY_MEASURES}
        FROM ev GROUP BY ALL""",
}


def day_path(settings: Settings, day: date) -> Path:
    return Path(layout.day_path(settings.events_location(), day))


def write_curated(settings: Settings, rows: Sequence[dict]) -> list[Path]:
    """Write events (dicts with CURATED_SCHEMA keys; `day` derived from the settings' zone)."""
    by_day: dict[date, list[dict]] = defaultdict(list)
    for i, row in enumerate(rows):
        full = {name: None for name in CURATED_SCHEMA.names}
        full.update({t: 0 for t in ("input_tokens", "output_tokens", "cached_input_tokens",
                                     "reasoning_tokens")})
        full.update(source_file="test.parquet", source_row=i)
        full.update(row)
        full["day"] = full["occurred_at"].astimezone(settings.tz).date()
        by_day[full["day"]].append(full)
    paths = []
    for day, day_rows in sorted(by_day.items()):
        path = day_path(settings, day)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(day_rows, schema=CURATED_SCHEMA), path)
        paths.append(path)
    return paths


def build_summaries(settings: Settings, *, record_errors: bool = True,
                    months: Iterable[date] | None = None) -> None:
    """(Re)fill every summary table from the curated files, a month at a time."""
    by_month: dict[date, list[str]] = defaultdict(list)
    for day, f in layout.day_files(settings.events_location()):
        by_month[day.replace(day=1)].append(str(f))
    keep = "true" if record_errors else "status = 'success'"
    with connect(settings.warehouse) as conn:
        for table in SUMMARY_INSERTS:
            conn.execute(f"DELETE FROM {table}")
        for month in months or sorted(by_month):
            conn.execute(
                "CREATE OR REPLACE TEMP VIEW ev AS SELECT * FROM "
                f"read_parquet({by_month[month]!r}, hive_partitioning=false) WHERE {keep}"
            )
            for table, select in SUMMARY_INSERTS.items():
                conn.execute(f"INSERT INTO {table} BY NAME {select}")


CITIES = ("c1", "c2", "c3")
USERS = ("u1", "u2", "u3", "u4", "u5", "u6", None)
MODELS = ("m1", "m2", "m3", None)
SERVICES = ("chat", "embed", None)


def sample_rows(n: int = 2500, *, seed: int = 11, first: date = date(2026, 1, 20),
                days: int = 50) -> list[dict]:
    """Random events over `days` days from `first` (UTC instants), with nulls in every
    nullable dimension and in latency."""
    rng = random.Random(seed)
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    rows = []
    for i in range(n):
        rows.append({
            "event_id": f"e{i:06d}",
            "occurred_at": start + timedelta(seconds=rng.randrange(days * 86400)),
            "city_id": rng.choice(CITIES),
            "user_id": rng.choice(USERS),
            "model_id": rng.choice(MODELS),
            "service": rng.choice(SERVICES),
            "provider": rng.choice(("openai", "anthropic")),
            "status": "error" if rng.random() < 0.2 else "success",
            "input_tokens": rng.randrange(0, 2000),
            "output_tokens": rng.randrange(0, 800),
            "cached_input_tokens": rng.randrange(0, 100),
            "reasoning_tokens": rng.randrange(0, 50),
            "latency_ms": None if rng.random() < 0.1 else rng.uniform(5, 3000),
            "cost_credits": None if rng.random() < 0.05 else rng.randrange(0, 5000),
        })
    return rows


def at(text: str, tz: str = "UTC") -> datetime:
    """An aware instant from 'YYYY-MM-DD HH:MM' in zone `tz`."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz))
