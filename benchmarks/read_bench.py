"""Read-surface benchmark: one-month `summary(by=("model_id",))` from pre-aggregates vs events.

    uv run python -m benchmarks.read_bench [--events 100000000] [--days 365] [--repeat 50]

Generates `--events` curated events spread evenly over `--days` days (DuckDB `range()` written
straight to the per-day Parquet layout), builds every summary table from them month by month
(the pipeline's own `usage_model.usage.summaries.build_daily` / `build_monthly`), then times,
in one run, `usage_model.read.summary` for one calendar month grouped by model: the planned answer
(pre-aggregates, read-only warehouse connection opened per call) and the same answer with
`source="events"` (the curated Parquet of that month). Results: benchmarks/results/read_bench.json.
Data is kept under --root and reused when it was built with the same --events/--days.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import duckdb

from usage_model import read
from usage_model.config import Settings
from usage_model.usage import layout, summaries
from usage_model.warehouse import connect

RESULTS = Path(__file__).parent / "results" / "read_bench.json"
FIRST_DAY = date(2025, 1, 1)

# One day of events: `$n` rows, ids unique across days through `$offset`.
DAY_EVENTS_SQL = """
COPY (
    WITH g AS (
        SELECT i, (hash(i + $offset) >> 1)::BIGINT AS h,
               (hash((i + $offset) * 31 + 7) >> 1)::BIGINT AS h2
        FROM range($n) t(i)
    )
    SELECT
        printf('ev-%012d', i + $offset) AS event_id,
        ($day::TIMESTAMP + to_microseconds((i * 86400000000 // $n)::BIGINT))::TIMESTAMPTZ
            AS occurred_at,
        $day::DATE AS day,
        'city-' || ((h2 % 50000) % 500)::VARCHAR AS city_id,
        CASE WHEN h2 % 97 = 0 THEN NULL ELSE 'user-' || (h2 % 50000)::VARCHAR END AS user_id,
        ['chat', 'embed', 'image'][1 + h % 3] AS service,
        CASE WHEN h % 41 = 40 THEN NULL ELSE 'model-' || (h % 41)::VARCHAR END AS model_id,
        ['openai', 'anthropic', 'mistral'][1 + (h // 7) % 3] AS provider,
        CASE WHEN (h // 13) % 20 = 0 THEN 'error' ELSE 'success' END AS status,
        CASE WHEN (h // 13) % 20 = 0 THEN 'upstream_timeout' END AS error,
        ((h // 17) % 4000)::BIGINT AS input_tokens,
        ((h // 19) % 1500)::BIGINT AS output_tokens,
        ((h // 23) % 300)::BIGINT AS cached_input_tokens,
        ((h // 29) % 200)::BIGINT AS reasoning_tokens,
        ((h // 31) % 60000) / 10.0 AS latency_ms,
        ((h // 37) % 20000)::BIGINT AS cost_credits,
        NULL::VARCHAR AS metadata_json,
        'bench/day.parquet' AS source_file,
        i::BIGINT AS source_row
    FROM g
) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 122880)
"""


def bench_settings(root: Path) -> Settings:
    data = root / "data"
    base = Settings(data_dir=data, landing=data / "landing", warehouse=data / "warehouse.duckdb",
                    curated=data / "curated", exports=data / "exports")
    return replace(base, timezone="UTC")


def generate(settings: Settings, events: int, days: int) -> float:
    """Write `events` events over `days` days; returns seconds taken."""
    began = time.perf_counter()
    per_day, extra = divmod(events, days)
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    offset = 0
    for k in range(days):
        n = per_day + (1 if k < extra else 0)
        day = FIRST_DAY + timedelta(days=k)
        path = Path(layout.day_path(settings.events_location(), day))
        path.parent.mkdir(parents=True, exist_ok=True)
        conn.execute(DAY_EVENTS_SQL.format(path=str(path).replace("'", "''")),
                     {"n": n, "offset": offset, "day": day})
        offset += n
    conn.close()
    return time.perf_counter() - began


def build_summaries(settings: Settings, first: date, days: int) -> None:
    """Every daily and monthly summary table, a month at a time, by the pipeline's code."""
    all_days = [first + timedelta(days=k) for k in range(days)]
    months = sorted({d.replace(day=1) for d in all_days})
    with connect(settings.warehouse) as conn:
        for month in months:
            summaries.build_daily(conn, settings, [d for d in all_days
                                                   if d.replace(day=1) == month])
            summaries.build_monthly(conn, settings, [month])


def timed(fn, repeat: int) -> tuple[list[float], object]:
    fn()  # warm-up (file cache, imports)
    samples, answer = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        answer = fn()
        samples.append((time.perf_counter() - began) * 1000)
    return samples, answer


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--events-repeat", type=int, default=5)
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp"))
                        / "city-usage-read-bench")
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    args = parser.parse_args()
    settings = bench_settings(args.root)
    stamp = args.root / "built.json"
    spec = {"events": args.events, "days": args.days}
    timings: dict[str, float] = {}
    if not stamp.exists() or json.loads(stamp.read_text()) != spec:
        shutil.rmtree(args.root, ignore_errors=True)
        timings["generate_s"] = round(generate(settings, args.events, args.days), 1)
        print(f"generated {args.events:,} events in {timings['generate_s']} s", flush=True)
        began = time.perf_counter()
        build_summaries(settings, FIRST_DAY, args.days)
        timings["summaries_s"] = round(time.perf_counter() - began, 1)
        print(f"built summary tables in {timings['summaries_s']} s", flush=True)
        stamp.write_text(json.dumps(spec))

    month = (FIRST_DAY + timedelta(days=min(args.days - 1, 45))).replace(day=1)
    end = (month + timedelta(days=32)).replace(day=1)
    query = {"by": ("model_id",), "start": month, "end": end, "settings": settings}
    plan = read.plan(**query)
    pre, pre_answer = timed(lambda: read.summary(**query), args.repeat)
    raw, raw_answer = timed(lambda: read.summary(**query, source="events"), args.events_repeat)
    same = pre_answer.equals(raw_answer)  # type: ignore[union-attr]
    month_events = sum(pre_answer.column("calls").to_pylist())  # type: ignore[union-attr]
    result = {
        "benchmark": "summary(by=('model_id',)) over one calendar month",
        "history_events": args.events,
        "history_days": args.days,
        "month": month.isoformat(),
        "month_events": month_events,
        "rows": pre_answer.num_rows,  # type: ignore[union-attr]
        "plan": plan.explain(),
        "preaggregate_ms": {"p50": round(percentile(pre, 0.5), 2),
                            "p95": round(percentile(pre, 0.95), 2), "n": len(pre)},
        "events_ms": {"p50": round(percentile(raw, 0.5), 1),
                      "p95": round(percentile(raw, 0.95), 1), "n": len(raw)},
        "speedup_p50": round(percentile(raw, 0.5) / percentile(pre, 0.5), 1),
        "same_answer": same,
        "data_bytes": sum(f.stat().st_size for f in settings.data_dir.rglob("*") if f.is_file()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "duckdb": duckdb.__version__},
        **timings,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if not args.keep:
        shutil.rmtree(args.root, ignore_errors=True)


if __name__ == "__main__":
    main()
