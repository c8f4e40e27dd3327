"""The pre-aggregated tables a summary can be answered from (docs/tables.md "Usage summaries").

Listed cheapest first: the planner prefers earlier tables. Each entry says its time grain, its
key (the dimensions it is grouped by besides time) and the measures it stores.
"""

from __future__ import annotations

from dataclasses import dataclass

from usage_model.read.request import ADDITIVE_MEASURES

_MONTHLY_SUMS = ("calls", "success_calls", "error_calls", "input_tokens", "output_tokens",
                 "cost_credits")
_PERCENTILES = ("p50_latency_ms", "p95_latency_ms")


@dataclass(frozen=True)
class Aggregate:
    table: str
    grain: str  # "day" (column `day`) or "month" (column `period`, first day of the month)
    key: frozenset[str]
    columns: frozenset[str]

    @property
    def time_column(self) -> str:
        return "day" if self.grain == "day" else "period"


def _agg(table: str, grain: str, key: tuple[str, ...], columns: tuple[str, ...]) -> Aggregate:
    return Aggregate(table, grain, frozenset(key), frozenset(columns))


AGGREGATES: tuple[Aggregate, ...] = (
    _agg("usage_monthly_by_model", "month", ("model_id",),
         _MONTHLY_SUMS + ("distinct_users", "distinct_cities")),
    _agg("usage_monthly_by_city", "month", ("city_id",), _MONTHLY_SUMS + ("distinct_users",)),
    _agg("usage_monthly_by_user", "month", ("city_id", "user_id"), _MONTHLY_SUMS),
    _agg("usage_daily_by_model", "day", ("model_id",),
         ADDITIVE_MEASURES + ("distinct_users", "distinct_cities") + _PERCENTILES),
    _agg("usage_daily_by_city", "day", ("city_id",),
         ADDITIVE_MEASURES + ("distinct_users",) + _PERCENTILES),
    _agg("usage_daily_by_service", "day", ("city_id", "service", "status"),
         ("calls", "input_tokens", "output_tokens")),
    _agg("usage_daily_by_user", "day", ("city_id", "user_id"), ADDITIVE_MEASURES),
)
