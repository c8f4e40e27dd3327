"""The read surface: `summary`, `events` and `me` over the warehouse and the curated events.

Every answer is a `pyarrow.Table` (convert with `polars.from_arrow(table)`, no copy), except
`stream_events`: Arrow record batches in bounded memory, for pages of any size. The
warehouse is attached read-only for the time of one query (`engine`), so a reader never
blocks or breaks a materialization; a locked or missing warehouse raises `WarehouseLocked` /
`WarehouseMissing` with a one-line message. Summaries that must come from events do not touch
the warehouse at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, TypedDict, Unpack

import pyarrow as pa

from usage_model.config import Settings
from usage_model.read import sql
from usage_model.read.cursor import decode_cursor
from usage_model.read.engine import engine, small_result, warehouse_reader
from usage_model.read.planner import SOURCES, Plan, plan_summary
from usage_model.read.request import (
    ADDITIVE_MEASURES,
    DIMENSIONS,
    BadRequest,
    build_summary_request,
    check_filters,
    check_order,
    parse_instant,
)
from usage_model.read.stream import BATCH_ROWS, EventStream
from usage_model.usage import layout

NEXT_CURSOR_KEY = b"next_cursor"
SOURCE_KEY = b"source"


def curated_day_files(
    settings: Settings, first: date | None = None, last: date | None = None
) -> list[tuple[date, str]]:
    """The curated day files with first <= day <= last (open ends: no bound), by day: paths
    on the filesystem of `settings.events_location()` (a local folder or an S3 bucket)."""
    return layout.day_files(settings.events_location(), first, last)


class Filters(TypedDict, total=False):
    """Exact-match filters on the dimensions, shared by summaries and events."""

    city_id: str | None
    user_id: str | None
    model_id: str | None
    service: str | None
    status: str | None
    provider: str | None


class SummaryQuery(Filters, total=False):
    """The keyword arguments of `plan` and `summary` (every one optional)."""

    start: date | str | None
    end: date | str | None
    granularity: str  # day | week | month | total (the default)
    measures: Iterable[str] | None
    source: str  # auto (the default), events or a table name
    settings: Settings | None


class EventQuery(Filters, total=False):
    """The keyword arguments of `stream_events` and `events` (every one optional)."""

    start: date | datetime | str | None
    end: date | datetime | str | None
    limit: int  # 1000 by default
    after: str | None
    settings: Settings | None


def _checked(query: Mapping[str, Any], kind: type) -> Mapping[str, Any]:
    """Refuse an argument the query type does not have, as a signature would."""
    unknown = sorted(set(query) - kind.__optional_keys__)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(unknown)}")
    return query


def plan(by: Iterable[str] | None = None, **query: Unpack[SummaryQuery]) -> Plan:
    """The plan `summary` would run with these arguments (see `Plan.explain()`)."""
    q = _checked(query, SummaryQuery)
    settings = q.get("settings") or Settings.from_env()
    source = q.get("source", "auto")
    if source not in SOURCES:
        raise BadRequest(f"unknown source {source!r}; valid: {', '.join(SOURCES)}")
    request = build_summary_request(
        by,
        start=q.get("start"),
        end=q.get("end"),
        granularity=q.get("granularity", "total"),
        measures=q.get("measures"),
        filters={column: q.get(column) for column in DIMENSIONS},
        record_errors=settings.record_errors,
    )
    return plan_summary(request, source)


def run_plan(chosen: Plan, settings: Settings | None = None) -> pa.Table:
    """Execute a plan: pre-aggregates on a read-only warehouse, or the curated day files."""
    settings = settings or Settings.from_env()
    req = chosen.request
    params = sql.summary_params(req)
    if chosen.from_events:
        last = req.end - timedelta(days=1) if req.end else None
        files = [p for _, p in curated_day_files(settings, req.start, last)]
        with engine() as conn:
            layout.register_events(conn, settings.events_location(), files, sql.EVENTS_VIEW)
            table = conn.sql(sql.summary_sql(chosen), params=params).to_arrow_table()
    else:
        with warehouse_reader(settings.warehouse) as conn:
            table = small_result(conn, sql.summary_sql(chosen), params)
    return table.replace_schema_metadata({SOURCE_KEY: ",".join(chosen.sources).encode()})


def summary(by: Iterable[str] | None = None, **query: Unpack[SummaryQuery]) -> pa.Table:
    """Usage grouped by `by` per `granularity` bucket over days `[start, end)`.

    `by=None` gives Downcity's overview (calls per city_id, service, status); `by=()` one
    grand-total row. Dimensions: city_id, user_id, model_id, service, status, provider (or
    city, user, model). Measures default to every additive measure plus the distinct counts that
    mean something for the grouping; `measures=["all"]` adds latency percentiles. Columns:
    `day` (granularity=day) or `period` (first day of the week/month bucket; none for total),
    the dimensions, then the measures. Groups with no calls do not appear.
    """
    settings = query.get("settings") or Settings.from_env()
    return run_plan(plan(by, **{**query, "settings": settings}), settings)


def me_plan(city_id: str, user_id: str, *, start: date | str | None = None,
            end: date | str | None = None, settings: Settings | None = None) -> Plan:
    for name, value in (("city", city_id), ("user", user_id)):
        if not isinstance(value, str) or value == "":
            raise BadRequest(f"me needs --{name}: a non-empty id")
    settings = settings or Settings.from_env()
    request = build_summary_request(
        ("city_id", "user_id"), start=start, end=end, granularity="day",
        measures=ADDITIVE_MEASURES, filters={"city_id": city_id, "user_id": user_id},
        record_errors=settings.record_errors,
    )
    return plan_summary(request)


def me(city_id: str, user_id: str, *, start: date | str | None = None,
       end: date | str | None = None, settings: Settings | None = None) -> pa.Table:
    """One user's own usage in one city: one row per day with calls, `[start, end)`."""
    chosen = me_plan(city_id, user_id, start=start, end=end, settings=settings)
    table = run_plan(chosen, settings)
    foreign = [r for r in table.select(["city_id", "user_id"]).to_pylist()
               if r != {"city_id": city_id, "user_id": user_id}]
    if foreign:  # cannot happen with bound equality filters; never let it leave if it did
        raise RuntimeError("me: the answer held rows of another user or city; refused")
    return table


def stream_events(*, batch_rows: int = BATCH_ROWS, **query: Unpack[EventQuery]) -> EventStream:
    """Curated events in `[start, end)` ordered by (occurred_at, event_id), at most `limit`,
    as a stream of Arrow record batches of at most `batch_rows` rows (bounded memory).

    `start`/`end` are dates (midnight in CITY_USAGE_TIMEZONE) or instants. After the last
    batch, `stream.next_cursor` is the `after` of the next page (None on the last page). Every
    event is returned, whatever its status (`record_errors` only shapes summaries).
    """
    q = _checked(query, EventQuery)
    settings = q.get("settings") or Settings.from_env()
    tz = settings.tz
    t0, t1 = parse_instant(q.get("start"), "--from", tz), parse_instant(q.get("end"), "--to", tz)
    check_order(t0, t1)
    limit, after = q.get("limit", 1000), q.get("after")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise BadRequest(f"bad --limit {limit!r}: expected a positive integer")
    filters = check_filters({column: q.get(column) for column in DIMENSIONS})
    after_t, after_e = decode_cursor(after) if after else (None, None)
    lower = max((t for t in (t0, after_t) if t is not None), default=None)
    first = lower.astimezone(tz).date() if lower else None
    last = (t1 - timedelta(microseconds=1)).astimezone(tz).date() if t1 else None
    files = [p for _, p in curated_day_files(settings, first, last)]

    page_sql = sql.events_page_sql(list(filters), has_start=t0 is not None,
                                   has_end=t1 is not None, has_after=after is not None)
    params: dict[str, object] = {f"f_{c}": v for c, v in filters.items()}
    params.update({k: v for k, v in (("start", t0), ("end", t1), ("after_t", after_t),
                                      ("after_e", after_e)) if v is not None})
    return EventStream(page_sql, params, settings.events_location(), files, limit, batch_rows)


def events(**query: Unpack[EventQuery]) -> pa.Table:
    """One page of `stream_events` as a table (same arguments); pass `next_cursor(table)` as
    `after` for the next page. For large pages use `stream_events` (bounded memory)."""
    stream = stream_events(**query)
    table = stream.read_all()
    cursor = (stream.next_cursor or "").encode()
    return table.replace_schema_metadata({NEXT_CURSOR_KEY: cursor})


def next_cursor(table: pa.Table) -> str | None:
    """The cursor of the page after this one, or None when this page was the last."""
    raw = (table.schema.metadata or {}).get(NEXT_CURSOR_KEY, b"")
    return raw.decode() or None


def source_of(table: pa.Table) -> str | None:
    """Which source(s) a summary came from (comma-separated table names, or `events`)."""
    raw = (table.schema.metadata or {}).get(SOURCE_KEY)
    return raw.decode() if raw else None
