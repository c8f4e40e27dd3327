"""Downcity's current `service_usage_events` export (0.1.211): error text from
`metadata_json.error`, and `model_id` '' kept as a model of its own (not null)."""

from __future__ import annotations

import json

import pyarrow as pa

from tests.usage.helpers_landing import assert_conserved, ingest, land
from usage_model.config import Settings
from usage_model.usage.summaries import build_daily
from usage_model.warehouse import connect

# The exact current shape: every column NOT NULL TEXT, '' for none, millisecond Z times.
SCHEMA = pa.schema([pa.field(c, pa.string(), nullable=False) for c in (
    "event_id", "city_id", "user_id", "service", "model_id", "status", "metadata_json",
    "created_at")])
ROWS = [
    {"event_id": "usage_Sk3tfexNk2Ft6aaD", "city_id": "city-mesa", "user_id": "u-1",
     "service": "chat", "model_id": "gpt-5.1", "status": "error",
     "metadata_json": json.dumps({"variant": "fast", "started_at": "2026-03-05T10:00:00.000Z",
                                  "ended_at": "2026-03-05T10:00:01.250Z",
                                  "error": "upstream_timeout: model did not answer"}),
     "created_at": "2026-03-05T10:00:01.250Z"},
    {"event_id": "usage_a-b_c9ZZk2Ft6aaQ", "city_id": "city-mesa", "user_id": "u-2",
     "service": "tool", "model_id": "", "status": "success",
     "metadata_json": json.dumps({"started_at": "2026-03-05T11:00:00.000Z",
                                  "ended_at": "2026-03-05T11:00:00.400Z"}),
     "created_at": "2026-03-05T11:00:00.400Z"},
    {"event_id": "usage_0123456789abcdef", "city_id": "city-mesa", "user_id": "",
     "service": "tool", "model_id": "", "status": "error", "metadata_json": "{}",
     "created_at": "2026-03-05T12:00:00.000Z"},
]


def test_current_downcity_usage_export_keeps_error_text_and_empty_model(settings: Settings):
    land(settings, "downcity/service_usage_events.parquet",
         pa.Table.from_pylist(ROWS, schema=SCHEMA))
    out = ingest(settings)
    assert out.quarantine == []
    by_id = out.by_id()
    first = by_id["usage_Sk3tfexNk2Ft6aaD"]
    assert first["error"] == "upstream_timeout: model did not answer"
    assert json.loads(first["metadata_json"])["error"] == first["error"]  # kept verbatim
    assert first["latency_ms"] == 1250.0
    assert by_id["usage_a-b_c9ZZk2Ft6aaQ"]["error"] is None  # no error key: no error
    assert by_id["usage_0123456789abcdef"]["error"] is None
    assert [by_id[r["event_id"]]["model_id"] for r in ROWS] == ["gpt-5.1", "", ""]
    assert_conserved(settings, rows_landed=len(ROWS))
    with connect(settings.warehouse) as conn:
        build_daily(conn, settings, [out.curated[0]["day"]])
        models = dict(conn.execute("SELECT model_id, sum(calls) FROM usage_daily_by_model "
                                   "GROUP BY model_id").fetchall())
    assert models == {"gpt-5.1": 1, "": 2}
