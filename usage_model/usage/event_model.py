"""Usage Event Model v1: the canonical columns of a curated event (docs/event-model.md).

Curated events are Parquet, one folder per day: `<curated>/events/day=YYYY-MM-DD/part-0.parquet`
with exactly `CURATED_SCHEMA`. `occurred_at` is a UTC instant; `day` is its calendar date in
`CITY_USAGE_TIMEZONE`. Token columns are never null (null in the source counts as 0).
"""

from __future__ import annotations

import pyarrow as pa

TOKEN_COLUMNS = ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens")

CURATED_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("day", pa.date32()),
        ("city_id", pa.string()),
        ("user_id", pa.string()),
        ("service", pa.string()),
        ("model_id", pa.string()),
        ("provider", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("cached_input_tokens", pa.int64()),
        ("reasoning_tokens", pa.int64()),
        ("latency_ms", pa.float64()),
        ("cost_credits", pa.int64()),
        ("metadata_json", pa.string()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
    ]
)
