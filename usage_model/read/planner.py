"""Choose where a summary is answered from: pre-aggregated tables when exact, else events.

The rule table (one measure, one candidate table; the table must also be keyed by every
requested dimension and every filtered column, and a monthly table needs month-aligned buckets):

- additive (calls, tokens, cost): the table stores it -> `sum`.
- distinct_users / distinct_cities / p50 / p95 stored in the table: only when the table's key
  equals the requested dimensions and each bucket is exactly one row's period (a daily table
  with granularity=day; a monthly table with granularity=month, or total over exactly one
  calendar month) -> `stored` (the row's own value).
- distinct_users / distinct_cities when the counted column (user_id / city_id) is in the
  table's key: every row is one id with calls in its period -> `count_distinct`.

Never summed: a distinct count or a percentile over several rows. One table serving every
measure wins (cheapest first: monthly before daily, small keys before large); otherwise the
cheapest tables are combined, joined on bucket and dimensions; if any measure has no exact
pre-aggregate, the whole answer comes from the curated events.
"""

from __future__ import annotations

from dataclasses import dataclass

from usage_model.read.catalog import AGGREGATES, Aggregate
from usage_model.read.request import (
    ADDITIVE_MEASURES,
    DISTINCT_MEASURES,
    PERCENTILE_MEASURES,
    SummaryRequest,
)

SOURCES = ("auto", "events")


@dataclass(frozen=True)
class Part:
    """Some measures of the answer, from one source (`None` = curated events)."""

    aggregate: Aggregate | None
    # (measure, how): how is "sum", "stored", "count_distinct" or "events"
    methods: tuple[tuple[str, str], ...]

    @property
    def source_name(self) -> str:
        return self.aggregate.table if self.aggregate else "events"

    @property
    def measures(self) -> tuple[str, ...]:
        return tuple(m for m, _ in self.methods)


@dataclass(frozen=True)
class Plan:
    request: SummaryRequest
    parts: tuple[Part, ...]
    reason: str

    @property
    def from_events(self) -> bool:
        return self.parts[0].aggregate is None

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(p.source_name for p in self.parts)

    def explain(self) -> str:
        """One line per part, then why."""
        lines = [
            f"source: {p.source_name} ({', '.join(f'{m}:{how}' for m, how in p.methods)})"
            for p in self.parts
        ]
        return "\n".join([*lines, f"why: {self.reason}"])


def _usable(agg: Aggregate, req: SummaryRequest) -> bool:
    if not set(req.dims) | set(req.filters) <= agg.key:
        return False
    if agg.grain == "month":
        return req.granularity in ("month", "total") and req.month_aligned
    return True


def _one_row_per_bucket(agg: Aggregate, req: SummaryRequest) -> bool:
    if set(req.dims) != agg.key:
        return False
    if agg.grain == "day":
        return req.granularity == "day"
    return req.granularity == "month" or (req.granularity == "total" and req.exactly_one_month)


def method(measure: str, agg: Aggregate, req: SummaryRequest) -> str | None:
    """How `agg` gives `measure` exactly for this request, or None."""
    if not _usable(agg, req):
        return None
    if measure in ADDITIVE_MEASURES:
        return "sum" if measure in agg.columns else None
    if measure in agg.columns and _one_row_per_bucket(agg, req):
        return "stored"
    if DISTINCT_MEASURES.get(measure) in agg.key:
        return "count_distinct"
    return None


def _why_events(req: SummaryRequest, missing: list[str]) -> str:
    keyed = set(req.dims) | set(req.filters)
    if not any(keyed <= a.key for a in AGGREGATES):
        cols = ", ".join(sorted(keyed))
        return f"no pre-aggregate is keyed by all of ({cols}) (grouped and filtered columns)"
    measure = missing[0]
    if measure in PERCENTILE_MEASURES:
        return (f"{measure} is not additive: it is exact only per day, from a daily table keyed "
                f"by exactly the requested dimensions, with granularity=day")
    if measure in DISTINCT_MEASURES:
        return (f"{measure} is not additive across days or groups and no table holds it for "
                f"{req.granularity} buckets of this grouping (monthly tables need whole months)")
    return f"no pre-aggregate stores {measure} for this grouping"


def plan_summary(req: SummaryRequest, source: str = "auto") -> Plan:
    """Pick the sources of every requested measure (see the module's rule table)."""
    if source == "events":
        return _events_plan(req, "asked for events (--source events)")
    candidates = [a for a in AGGREGATES if _usable(a, req)]
    for agg in candidates:
        methods = [(m, method(m, agg, req)) for m in req.measures]
        if all(how for _, how in methods):
            return Plan(req, (Part(agg, tuple(methods)),), _why_single(agg, req))  # type: ignore[arg-type]
    remaining = list(req.measures)
    parts: list[Part] = []
    while remaining:
        best, best_methods = None, []
        for agg in candidates:
            served = [(m, how) for m in remaining if (how := method(m, agg, req))]
            if len(served) > len(best_methods):
                best, best_methods = agg, served
        if best is None:
            return _events_plan(req, _why_events(req, remaining))
        parts.append(Part(best, tuple(best_methods)))
        remaining = [m for m in remaining if m not in dict(best_methods)]
    why = "no single table stores every measure; each part is exact for its measures"
    return Plan(req, tuple(parts), why)


def _why_single(agg: Aggregate, req: SummaryRequest) -> str:
    grain = "whole months" if agg.grain == "month" else "days"
    return (f"{agg.table} is keyed by ({', '.join(sorted(agg.key))}) per {agg.grain}, covers the "
            f"grouping and filters, and gives every measure exactly over {grain}")


def _events_plan(req: SummaryRequest, why: str) -> Plan:
    return Plan(req, (Part(None, tuple((m, "events") for m in req.measures)),), why)
