"""Run the configured pricing / entitlement hook for one period and store its rows.

A period is replaced whole (delete + insert in one transaction), so re-running it yields
the same rows; refs are deterministic, so a re-run names the same charges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from usage_model.hooks.config import HookConfig
from usage_model.hooks.protocol import (
    CHARGE_SCHEMA,
    ENTITLEMENT_SCHEMA,
    HookContext,
    HookResultError,
    Period,
    hook_grain,
    to_table,
)
from usage_model.hooks.usage import usage_at_grain
from usage_model.sql import run_sql
from usage_model.storage import Location
from usage_model.warehouse import transaction


@dataclass(frozen=True)
class HookRun:
    table: pa.Table        # what was stored for the period
    usage_rows: int        # usage groups handed to the hook
    grain: tuple[str, ...]


def run_hook(
    hook: HookConfig,
    period: Period,
    events: Location,
    schema: pa.Schema,
    what: str,
    *,
    record_errors: bool = True,
) -> HookRun:
    grain = hook_grain(hook.hook)
    usage = usage_at_grain(events, period, grain, record_errors=record_errors)
    try:
        result = hook.hook(usage, HookContext(period=period, params=hook.params))
    except HookResultError:
        raise
    except Exception as exc:  # noqa: BLE001 - user code: one line, named
        text = " ".join(str(exc).split())[:200]
        problem = f"{what} hook {hook.hook_name}: {type(exc).__name__}: {text}"
        raise HookResultError(problem) from None
    return HookRun(table=to_table(result, schema, period, what), usage_rows=usage.num_rows,
                   grain=grain)


def _replace_period(
    conn: duckdb.DuckDBPyConnection, table_name: str, run: HookRun, period: Period, hook: str
) -> None:
    now = datetime.now(UTC)
    rows = run.table.append_column("hook", pa.array([hook] * run.table.num_rows, pa.string()))
    rows = rows.append_column(
        "computed_at", pa.array([now] * rows.num_rows, pa.timestamp("us", tz="UTC"))
    )
    conn.register("hook_rows", rows)
    try:
        with transaction(conn):
            run_sql(conn, __file__, "delete_period", idents={"table": table_name},
                    period=period.start)
            run_sql(conn, __file__, "insert_by_name",
                    idents={"table": table_name, "rows": "hook_rows"})
    finally:
        conn.unregister("hook_rows")


def _hook_table_builder(schema: pa.Schema, role: str, table_name: str):
    """A builder that runs the period's hook of one role and replaces its rows in one table."""

    def build(
        conn: duckdb.DuckDBPyConnection, hook: HookConfig, period: Period, events: Location,
        *, record_errors: bool = True,
    ) -> HookRun:
        run = run_hook(hook, period, events, schema, role, record_errors=record_errors)
        _replace_period(conn, table_name, run, period, hook.hook_name)
        return run

    build.__name__ = f"build_{table_name}"
    return build


build_charges = _hook_table_builder(CHARGE_SCHEMA, "pricing", "charges")
build_entitlements = _hook_table_builder(ENTITLEMENT_SCHEMA, "entitlement", "entitlement_status")


def charge_problems(conn: duckdb.DuckDBPyConnection, period: Period) -> dict[str, int]:
    """Counts of rule-breaking charges for the period (all zero when the charges are sound)."""
    cursor = run_sql(conn, __file__, "charge_problems", period=period.start)
    names = [d[0] for d in cursor.description]
    return dict(zip(names, cursor.fetchall()[0], strict=True))
