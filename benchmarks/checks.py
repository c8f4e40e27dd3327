"""Correctness guard: the pipeline's summary tables and every baseline agree."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb

PIPELINE_TABLES = {"by_model": "usage_daily_by_model", "by_city": "usage_daily_by_city",
                   "by_user": "usage_daily_by_user"}


def pipeline_totals(warehouse: Path) -> dict:
    """The same fingerprint as `baselines._fingerprint`, from the pipeline's own tables."""
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        totals = {}
        for name, table in PIPELINE_TABLES.items():
            extra = ("sum(distinct_users), sum(p95_latency_ms)" if name != "by_user"
                     else "NULL, NULL")
            rows, calls, tokens, users, p95 = conn.execute(
                f"SELECT count(*), sum(calls), sum(input_tokens), {extra} FROM {table}"
            ).fetchall()[0]
            totals[name] = {"rows": rows, "calls": int(calls), "input_tokens": int(tokens),
                            "distinct_users": None if users is None else int(users),
                            "p95_sum": None if p95 is None else round(float(p95), 1)}
        return totals
    finally:
        conn.close()


def same_totals(a: dict, b: dict) -> bool:
    """Equal counts and sums; the p95 sums within float summation error."""
    for table in PIPELINE_TABLES:
        x, y = a[table], b[table]
        for key in ("rows", "calls", "input_tokens", "distinct_users"):
            if x[key] != y[key]:
                return False
        if (x["p95_sum"] is None) != (y["p95_sum"] is None):
            return False
        if x["p95_sum"] is not None and not math.isclose(x["p95_sum"], y["p95_sum"],
                                                         rel_tol=1e-6, abs_tol=0.2):
            return False
    return True
