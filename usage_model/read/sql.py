"""SQL of the read surface. Identifiers come only from the fixed lists in `request` and
`catalog`; every value (ids, dates, instants, the bucket size) is a bound `$name` parameter.
Curated events are the session view `EVENTS_VIEW`, which the caller registers over the day
files it needs (`layout.register_events`: local files or S3 objects alike).

Unlike the rest of the package, these statements are composed here rather than kept in
`sql/*.sql` files: a summary request chooses its dimensions, measures, filters and the number
of pre-aggregates joined (one CTE each), so the select list, the WHERE clause and the joins
genuinely differ per request. Only those identifiers and fixed expressions are spliced."""

from __future__ import annotations

from usage_model.read.planner import Part, Plan
from usage_model.read.request import DISTINCT_MEASURES, PERCENTILE_MEASURES, SummaryRequest

# Curated events: the view the caller registers over the request's day files.
EVENTS_VIEW = "curated_events"

PART_SQL = """
SELECT {select_list}
FROM {source}
WHERE {where}
GROUP BY ALL
HAVING count(*) > 0
"""

COMBINE_SQL = """
WITH {ctes}
SELECT {columns}
FROM {joined}
ORDER BY {order}
"""

AFTER_CURSOR = "(occurred_at > $after_t OR (occurred_at = $after_t AND event_id > $after_e))"

EVENTS_PAGE_SQL = """
SELECT *
FROM {events}
WHERE {where}
ORDER BY occurred_at, event_id
LIMIT $limit
"""

_EVENT_MEASURES = {
    "calls": "count(*)",
    "success_calls": "count(*) FILTER (WHERE status = 'success')",
    "error_calls": "count(*) FILTER (WHERE status = 'error')",
    **{m: f"coalesce(sum({m}), 0)::BIGINT" for m in (
        "input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens",
        "cost_credits")},
    **{m: f"count(DISTINCT {col})" for m, col in DISTINCT_MEASURES.items()},
    **{m: f"quantile_cont(latency_ms, {q})" for m, q in PERCENTILE_MEASURES.items()},
}


def _measure_expr(measure: str, how: str) -> str:
    if how == "events":
        return _EVENT_MEASURES[measure]
    if how == "sum":
        return f"sum({measure})::BIGINT"
    if how == "stored":
        return f"any_value({measure})"
    if how == "count_distinct":
        return f"count(DISTINCT {DISTINCT_MEASURES[measure]})"
    raise ValueError(how)


def _bucket_expr(req: SummaryRequest, time_column: str) -> str | None:
    if req.granularity == "total":
        return None
    if req.granularity == "day":
        return time_column
    # every part truncates (a monthly table's period is already its month: a no-op), so the
    # statement always uses the $granularity that summary_params binds
    return f"date_trunc($granularity, {time_column})::DATE"


def _where(req: SummaryRequest, time_column: str, from_events: bool) -> str:
    clauses = ["true"]
    if req.start is not None:
        clauses.append(f"{time_column} >= $start")
    if req.end is not None:
        clauses.append(f"{time_column} < $end")
    clauses += [f"{col} = $f_{col}" for col in req.filters]
    if from_events and not req.record_errors:
        clauses.append("status = 'success'")  # the summaries exclude error calls too
    return " AND ".join(clauses)


def part_sql(part: Part, req: SummaryRequest) -> str:
    time_column = part.aggregate.time_column if part.aggregate else "day"
    bucket = _bucket_expr(req, time_column)
    select = [f"{bucket} AS {req.time_column}"] if bucket else []
    select += list(req.dims)
    select += [f"{_measure_expr(m, how)} AS {m}" for m, how in part.methods]
    return PART_SQL.format(
        select_list=",\n       ".join(select),
        source=part.aggregate.table if part.aggregate else EVENTS_VIEW,
        where=_where(req, time_column, part.aggregate is None),
    )


def summary_sql(plan: Plan) -> str:
    """One query: each part a CTE, joined on bucket and dimensions (nulls match nulls)."""
    req = plan.request
    keys = ([req.time_column] if req.time_column else []) + list(req.dims)
    names = [f"p{i}" for i in range(len(plan.parts))]
    ctes = ",\n".join(
        f"{n} AS ({part_sql(p, req)})"
        for n, p in zip(names, plan.parts, strict=True)
    )
    joined = names[0]
    for name in names[1:]:
        on = " AND ".join(f"p0.{k} IS NOT DISTINCT FROM {name}.{k}" for k in keys)
        joined += f" JOIN {name} ON {on}" if keys else f" CROSS JOIN {name}"
    owner = {m: n for n, p in zip(names, plan.parts, strict=True) for m in p.measures}
    columns = [f"p0.{k}" for k in keys] + [f"{owner[m]}.{m}" for m in req.measures]
    order = ", ".join(f"p0.{k} ASC NULLS LAST" for k in keys) or "1"
    return COMBINE_SQL.format(ctes=ctes, columns=", ".join(columns), joined=joined, order=order)


def summary_params(req: SummaryRequest) -> dict[str, object]:
    params: dict[str, object] = {f"f_{col}": value for col, value in req.filters.items()}
    if req.granularity in ("week", "month"):
        params["granularity"] = req.granularity
    if req.start is not None:
        params["start"] = req.start
    if req.end is not None:
        params["end"] = req.end
    return params


def events_page_sql(filters: list[str], *, has_start: bool, has_end: bool, has_after: bool) -> str:
    clauses = ["true"]
    if has_start:
        clauses.append("occurred_at >= $start")
    if has_end:
        clauses.append("occurred_at < $end")
    if has_after:
        clauses.append(AFTER_CURSOR)
    clauses += [f"{col} = $f_{col}" for col in filters]
    return EVENTS_PAGE_SQL.format(events=EVENTS_VIEW, where=" AND ".join(clauses))
