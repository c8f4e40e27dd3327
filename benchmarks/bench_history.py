"""A new day's ingestion cost with 1, 90 and 365 days of history behind it (issue 11: the
cost must not grow with history).

The history is synthetic but goes through the real index writer: for each past day a small
placeholder landed file (so the scan sees it unchanged) and a manifest entry whose scanned
rows hold `history_per_day` random ids; `id_index.update` then folds them into the bucketed
index, a chunk of days per update (so buckets hold several segments, as after daily runs).
The new day is real: its landed files are scanned and its day built by the pipeline's own
functions (`scan_landing`, `build_days`), in this process, timed wall and CPU.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from benchmarks import data
from benchmarks.measure import load_average
from usage_model.usage import id_index, ingest, scanned
from usage_model.warehouse import ensure_schema, transaction

HISTORIES = (1, 90, 365)
REPEATS = 2  # new days added at each history length (median reported)
CHUNK_DAYS = 30  # history days folded into the index per update

_SYNTHETIC_SCANNED = """
COPY (
    SELECT event_id, md5_number_lower(event_id) AS id_hash, $day::DATE AS day, i AS source_row,
           hash(i, $day) AS content_hash_hi, hash($day, i) AS content_hash_lo
    FROM (SELECT uuid()::VARCHAR AS event_id, i FROM range($n) t(i))
) TO '{target}' (FORMAT parquet, COMPRESSION lz4_raw)
"""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _add_history_day(conn: duckdb.DuckDBPyConnection, settings, k: int, rows: int) -> None:
    """A manifest entry for day k whose scanned rows are `rows` random ids."""
    day = data.day_of(k)
    relative = f"dt={day.isoformat()}/part-000.parquet"
    placeholder = settings.usage_landing / relative
    placeholder.parent.mkdir(parents=True, exist_ok=True)
    # Never read: its size and times match the manifest, so the scan's stat check passes it.
    placeholder.write_bytes(b"synthetic history day")
    stat = placeholder.stat()
    fingerprint = f"synthetic-{k:04d}"
    target = scanned.path_of(settings, k + 1, fingerprint)
    target.parent.mkdir(parents=True, exist_ok=True)
    conn.execute(_SYNTHETIC_SCANNED.replace("{target}", target.as_posix()),
                 {"day": day, "n": rows})
    with transaction(conn):
        conn.execute(
            "INSERT INTO usage_files (file_id, path, size_bytes, mtime_ns, ctime_ns, "
            "fingerprint, status, rows_read, rows_valid, rows_invalid, min_day, max_day, "
            "scanned_at) VALUES ($id, $path, $size, $mtime, $ctime, $fp, 'ok', $n, $n, 0, "
            "$day, $day, now())",
            {"id": k + 1, "path": relative, "size": stat.st_size, "mtime": stat.st_mtime_ns,
             "ctime": stat.st_ctime_ns, "fp": fingerprint, "n": rows, "day": day},
        )
        conn.execute("INSERT INTO usage_file_days VALUES ($id, $day, $n)",
                     {"id": k + 1, "day": day, "n": rows})


def _grow_history(conn, settings, first: int, last: int, rows: int) -> None:
    for k in range(first, last + 1):
        _add_history_day(conn, settings, k, rows)
        if (k - first + 1) % CHUNK_DAYS == 0 or k == last:
            id_index.update(conn, settings, ingest.ScanResult())


def _new_day(conn, settings, k: int, per_day: int) -> dict:
    day: date = data.day_of(k)
    data.write_random_id_days(settings, [day], per_day, seed=data.SEED + k)
    # The clock is the day after (a 365-day history reaches past today's date).
    now = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
    load = load_average()
    began, cpu = time.perf_counter(), _cpu()
    scan = ingest.scan_landing(conn, settings, now=now)
    scanned_at, cpu_scanned = time.perf_counter(), _cpu()
    build = ingest.build_days(conn, settings, sorted(scan.days_touched), now=now)
    ended, cpu_ended = time.perf_counter(), _cpu()
    assert build.accepted == per_day, (build.accepted, per_day)
    return {"scan_s": round(scanned_at - began, 3), "build_s": round(ended - scanned_at, 3),
            "wall_s": round(ended - began, 3), "cpu_s": round(cpu_ended - cpu, 3),
            "scan_cpu_s": round(cpu_scanned - cpu, 3), "load_avg_1m": load}


def run(root: Path, per_day: int, memory_limit: str, history_per_day: int | None = None,
        log=print) -> dict:
    history_per_day = history_per_day or per_day
    shutil.rmtree(root, ignore_errors=True)
    settings = data.bench_settings(root)
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(settings.warehouse),
                          config={"memory_limit": memory_limit, "threads": os.cpu_count() or 2})
    conn.execute("SET TimeZone = 'UTC'")
    ensure_schema(conn)
    points = []
    try:
        _grow_history(conn, settings, 0, HISTORIES[0] - 1, history_per_day)
        _new_day(conn, settings, HISTORIES[0], per_day)  # not measured: imports, caches
        built = HISTORIES[0] + 1  # days 0 .. built-1 are in the warehouse
        for history in HISTORIES:
            if history > built:
                began = time.perf_counter()
                _grow_history(conn, settings, built, history - 1, history_per_day)
                log(f"  history grown to {history} days ({time.perf_counter() - began:.1f} s)")
                built = history
            index_rows = sum(s.rows for s in id_index.segments(conn))
            adds = []
            for _ in range(REPEATS):
                adds.append(_new_day(conn, settings, built, per_day))
                built += 1
            point = {"history_days": built - REPEATS, "index_rows": index_rows,
                     **{key: statistics.median(a[key] for a in adds)
                        for key in ("scan_s", "build_s", "wall_s", "cpu_s", "scan_cpu_s")},
                     "load_avg_1m": [a["load_avg_1m"] for a in adds],
                     "segments": len(id_index.segments(conn))}
            points.append(point)
            log(f"  new day of {per_day:,} after {point['history_days']} days "
                f"({index_rows:,} ids): {point['wall_s']} s wall, {point['cpu_s']} s CPU "
                f"(scan {point['scan_s']} s), load {point['load_avg_1m']}")
    finally:
        conn.close()
        shutil.rmtree(root, ignore_errors=True)
    first, last = points[0], points[-1]
    return {"events_per_day": per_day, "history_per_day": history_per_day, "points": points,
            "growth_1_to_365_wall": round(last["wall_s"] / first["wall_s"] - 1, 3),
            "growth_1_to_365_cpu": round(last["cpu_s"] / first["cpu_s"] - 1, 3)}
