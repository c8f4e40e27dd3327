"""The hook protocol: what a pricing or entitlement hook receives and returns.

A pricing hook is a callable `hook(usage, context) -> rows`:

- `usage` is a `pyarrow.Table` of one period's usage at the grain the hook asks for
  (attribute `grain`, default `("user_id", "city_id")`; allowed grain columns are
  `GRAIN_COLUMNS`) with the measures `MEASURES` (BIGINT, never null). Call
  `polars.from_arrow(usage)` for a polars frame.
- `context` is a `HookContext` (the period and the hook's `params` from the config).
- It returns charges as a `pyarrow.Table`, a polars DataFrame or an iterable of dicts with
  `user_id, city_id, amount_credits, description, ref` (`reason` optional; required when
  `amount_credits` is null). Amounts are integer credits (1 USD = 1,000,000 credits).

An entitlement hook has the same call shape and returns `ENTITLEMENT_COLUMNS` rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

import pyarrow as pa

GRAIN_COLUMNS = ("user_id", "city_id", "model_id", "service", "day")
MEASURES = (
    "calls", "success_calls", "error_calls", "input_tokens", "output_tokens",
    "cached_input_tokens", "reasoning_tokens", "cost_credits",
)
DEFAULT_GRAIN = ("user_id", "city_id")

# Fields both hook outputs carry, declared once: the period and who the row is about.
PERIOD = pa.field("period", pa.date32())
USER_ID = pa.field("user_id", pa.string())
CITY_ID = pa.field("city_id", pa.string())

CHARGE_SCHEMA = pa.schema([
    PERIOD, USER_ID, CITY_ID,
    ("amount_credits", pa.int64()),
    ("description", pa.string()),
    ("ref", pa.string()),
    ("reason", pa.string()),
])

ENTITLEMENT_SCHEMA = pa.schema([
    PERIOD,
    ("scope", pa.string()),
    ("subject_id", pa.string()),
    USER_ID, CITY_ID,
    ("unit", pa.string()),
    ("included", pa.int64()),
    ("limit_value", pa.int64()),
    ("used", pa.int64()),
    ("remaining", pa.int64()),
    ("overage", pa.int64()),
    ("over_limit", pa.bool_()),
])


class ParamError(ValueError):
    """A bad hook parameter; `key` is relative to the section's `params`."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class HookResultError(ValueError):
    """A hook returned something that is not a valid charge/entitlement table (one line)."""


@dataclass(frozen=True)
class Period:
    """One period: `[start, end)` dates; `key` is the Dagster partition key (its first day)."""

    grain: str  # day | month
    start: date
    end: date

    @property
    def key(self) -> str:
        return self.start.isoformat()

    @classmethod
    def from_key(cls, grain: str, key: str) -> Period:
        start = date.fromisoformat(key[:10])
        if grain == "day":
            return cls("day", start, date.fromordinal(start.toordinal() + 1))
        if start.day != 1:
            raise ValueError(f"{key}: a month period starts on the first day")
        year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        return cls("month", start, date(year, month, 1))

    def days(self) -> list[date]:
        return [date.fromordinal(o) for o in range(self.start.toordinal(), self.end.toordinal())]


@dataclass(frozen=True)
class HookContext:
    period: Period
    params: Mapping[str, Any] = field(default_factory=dict)


class Hook(Protocol):
    grain: tuple[str, ...]

    def __call__(self, usage: pa.Table, context: HookContext) -> Any: ...


def hook_grain(hook: Any) -> tuple[str, ...]:
    grain = tuple(getattr(hook, "grain", DEFAULT_GRAIN))
    bad = [c for c in grain if c not in GRAIN_COLUMNS]
    if bad or not grain:
        raise HookResultError(
            f"hook grain {grain!r}: allowed columns are {', '.join(GRAIN_COLUMNS)}"
        )
    return grain


def credits_half_up(value: Decimal) -> int:
    """Integer credits from an exact Decimal amount: round half up (away from zero at .5)."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def stable_ref(kind: str, period: Period, *parts: object) -> str:
    """A deterministic, collision-free charge ref (ids may hold any character)."""
    digest = hashlib.sha256(json.dumps([kind, period.key, *parts]).encode()).hexdigest()[:24]
    return f"{kind}:{period.key}:{digest}"


def to_table(result: Any, schema: pa.Schema, period: Period, what: str) -> pa.Table:
    """Normalize a hook's return value (Arrow, polars, pandas, dicts) to `schema`."""
    if result is None:
        result = []
    if hasattr(result, "to_arrow"):  # polars
        result = result.to_arrow()
    elif hasattr(result, "to_dict") and hasattr(result, "columns"):  # pandas
        result = pa.Table.from_pandas(result, preserve_index=False)
    if isinstance(result, pa.RecordBatch):
        result = pa.Table.from_batches([result])
    if isinstance(result, pa.Table):
        rows = result.to_pylist()
    elif isinstance(result, Iterable) and not isinstance(result, str | bytes | Mapping):
        rows = list(result)
    else:
        raise HookResultError(f"{what} hook returned {type(result).__name__}, not rows")
    required = [n for n in schema.names if n not in ("period", "reason")]
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise HookResultError(f"{what} hook row {i}: expected a mapping")
        missing = [n for n in required if n not in row]
        if missing:
            raise HookResultError(f"{what} hook row {i}: missing {', '.join(missing)}")
        clean = {n: row.get(n) for n in schema.names}
        clean["period"] = period.start
        for name in schema.names:
            value = clean[name]
            if pa.types.is_integer(schema.field(name).type) and value is not None:
                if isinstance(value, Decimal) and value == value.to_integral_value():
                    value = int(value)
                if isinstance(value, bool) or not isinstance(value, int):
                    raise HookResultError(
                        f"{what} hook row {i}: {name} must be an integer, got {value!r}"
                    )
                clean[name] = value
        out.append(clean)
    return pa.Table.from_pylist(out, schema=schema)
