"""Test data for hooks and exports: real curated Parquet and a real DuckDB warehouse."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from usage_model.config import Settings
from usage_model.usage import layout
from usage_model.usage.event_model import CURATED_SCHEMA
from usage_model.warehouse import connect

_counter = iter(range(1, 10**9))


def event(day: str, user: str | None, city: str = "c1", model: str | None = "gpt-4o",
          status: str = "success", inp: int = 0, out: int = 0, cached: int = 0) -> dict:
    d = date.fromisoformat(day)
    return {
        "event_id": f"e{next(_counter)}", "occurred_at": datetime(d.year, d.month, d.day, 12,
                                                                  tzinfo=UTC),
        "day": d, "city_id": city, "user_id": user, "service": "chat", "model_id": model,
        "provider": "p", "status": status, "error": None, "input_tokens": inp,
        "output_tokens": out, "cached_input_tokens": cached, "reasoning_tokens": 0,
        "latency_ms": 10.0, "cost_credits": 0, "metadata_json": None,
        "source_file": "t.parquet", "source_row": 0,
    }


def write_events(settings: Settings, events: list[dict]) -> None:
    """Curated day files, as the foundation writes them (one file per day, replaced whole)."""
    by_day: dict[date, list[dict]] = defaultdict(list)
    for e in events:
        by_day[e["day"]].append(e)
    where = settings.events_location()  # a local folder or an S3 prefix
    for day, rows in by_day.items():
        table = pa.Table.from_pylist(rows, schema=CURATED_SCHEMA)
        where.write_atomic(layout.day_path(where, day),
                           lambda fs, path, t=table: pq.write_table(t, path, filesystem=fs))


def write_daily_by_user(settings: Settings, rows: list[tuple]) -> None:
    """Rows `(day, city_id, user_id, calls, input_tokens, output_tokens)` into the summary
    table (replacing those days), standing in for the foundation's summary asset."""
    with connect(settings.warehouse) as conn:
        for day in {r[0] for r in rows}:
            conn.execute("DELETE FROM usage_daily_by_user WHERE day = ?", [day])
        conn.executemany(
            "INSERT INTO usage_daily_by_user VALUES (?, ?, ?, ?, ?, 0, ?, ?, 0, 0, 0)",
            [(d, c, u, calls, calls, i, o) for d, c, u, calls, i, o in rows],
        )


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
