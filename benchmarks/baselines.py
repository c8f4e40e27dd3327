"""Hand-written alternatives on the same curated files: DuckDB SQL, a polars lazy query,
pandas (pyarrow-backed); and the ingestion floor, a plain DuckDB Parquet-to-Parquet copy.

Each returns `totals`, a small fingerprint of the three summaries (rows, calls, tokens,
distinct users, p95 sum) that `checks.same_totals` compares with the pipeline's tables.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

HAND_SQL = (Path(__file__).parent / "sql" / "hand_summaries.sql").read_text()
TABLES = ("by_model", "by_city", "by_user")
KEYS = {"by_model": ["day", "model_id"], "by_city": ["day", "city_id"],
        "by_user": ["day", "city_id", "user_id"]}
COLUMNS = ["day", "city_id", "user_id", "model_id", "status", "input_tokens", "output_tokens",
           "latency_ms"]


def _fingerprint(rows: int, calls: int, tokens: int, users: int | None,
                 p95: float | None) -> dict:
    return {"rows": int(rows), "calls": int(calls), "input_tokens": int(tokens),
            "distinct_users": None if users is None else int(users),
            "p95_sum": None if p95 is None else round(float(p95), 1)}


def _sql_list(files: list[str]) -> str:
    return "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"


def duckdb_summaries(files: list[str], memory_limit: str) -> dict:
    conn = duckdb.connect(config={"memory_limit": memory_limit, "threads": 2})
    conn.execute(f"CREATE VIEW ev AS SELECT * FROM read_parquet({_sql_list(files)}, "
                 "hive_partitioning = false)")
    conn.execute(HAND_SQL)
    totals = {}
    for table in TABLES:
        extra = ("sum(distinct_users), sum(p95_latency_ms)" if table != "by_user"
                 else "NULL, NULL")
        row = conn.execute(f"SELECT count(*), sum(calls), sum(input_tokens), {extra} "
                           f"FROM {table}").fetchall()[0]
        totals[table] = _fingerprint(*row)
    conn.close()
    return {"totals": totals}


def polars_summaries(files: list[str], memory_limit: str) -> dict:
    import polars as pl

    ev = pl.scan_parquet(files, hive_partitioning=False).select(COLUMNS)
    counts = [pl.len().alias("calls"),
              (pl.col("status") == "success").sum().alias("success_calls"),
              (pl.col("status") == "error").sum().alias("error_calls"),
              pl.col("input_tokens").sum(), pl.col("output_tokens").sum()]
    latency = [pl.col("latency_ms").quantile(0.5, "linear").alias("p50_latency_ms"),
               pl.col("latency_ms").quantile(0.95, "linear").alias("p95_latency_ms")]
    users = pl.col("user_id").drop_nulls().n_unique().alias("distinct_users")
    plans = {
        "by_model": ev.group_by(KEYS["by_model"]).agg(
            *counts, users, pl.col("city_id").drop_nulls().n_unique().alias("distinct_cities"),
            *latency),
        "by_city": ev.group_by(KEYS["by_city"]).agg(*counts, users, *latency),
        "by_user": ev.group_by(KEYS["by_user"]).agg(*counts),
    }
    frames = dict(zip(plans, pl.collect_all(list(plans.values())), strict=True))
    totals = {}
    for name, frame in frames.items():
        has_users = name != "by_user"
        totals[name] = _fingerprint(
            frame.height, frame["calls"].sum(), frame["input_tokens"].sum(),
            frame["distinct_users"].sum() if has_users else None,
            frame["p95_latency_ms"].sum() if has_users else None)
    return {"totals": totals}


def pandas_summaries(files: list[str], memory_limit: str) -> dict:
    import pandas as pd

    ev = pd.concat([pd.read_parquet(f, columns=COLUMNS, dtype_backend="pyarrow") for f in files],
                   ignore_index=True)
    ev["success"] = ev["status"] == "success"
    ev["error"] = ev["status"] == "error"
    totals = {}
    for name, keys in KEYS.items():
        grouped = ev.groupby(keys, dropna=False, sort=False, observed=True)
        frame = grouped.agg(calls=("status", "size"), success_calls=("success", "sum"),
                            error_calls=("error", "sum"), input_tokens=("input_tokens", "sum"),
                            output_tokens=("output_tokens", "sum"))
        users = p95 = None
        if name != "by_user":
            frame["distinct_users"] = grouped["user_id"].nunique()
            if name == "by_model":
                frame["distinct_cities"] = grouped["city_id"].nunique()
            frame["p50_latency_ms"] = grouped["latency_ms"].quantile(0.5)
            frame["p95_latency_ms"] = grouped["latency_ms"].quantile(0.95)
            users, p95 = frame["distinct_users"].sum(), frame["p95_latency_ms"].sum()
        totals[name] = _fingerprint(len(frame), frame["calls"].sum(),
                                    frame["input_tokens"].sum(), users, p95)
    return {"totals": totals}


def duckdb_copy(files: list[str], target: str, memory_limit: str) -> dict:
    """The floor for ingestion: read the landed files, write Parquet, nothing else."""
    conn = duckdb.connect(config={"memory_limit": memory_limit, "threads": 2})
    rows = conn.execute(
        f"COPY (SELECT * FROM read_parquet({_sql_list(files)}, hive_partitioning = false)) "
        f"TO '{target}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"
    ).fetchall()[0][0]
    conn.close()
    Path(target).unlink(missing_ok=True)
    return {"rows": int(rows)}


RUNNERS = {"duckdb": duckdb_summaries, "polars": polars_summaries, "pandas": pandas_summaries}
