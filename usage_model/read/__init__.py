"""The read surface over the warehouse: `summary`, `events`, `me` (Arrow tables).

Ranges are half-open `[start, end)`. Summary and `me` take calendar days in
`CITY_USAGE_TIMEZONE`; `events` also takes instants (ISO-8601; no offset = UTC). Answers come
from the pre-aggregated tables whenever they are exact for the request (see `planner`), else
from the curated events.
"""

from usage_model.read.api import (
    curated_day_files,
    events,
    me,
    me_plan,
    next_cursor,
    plan,
    run_plan,
    source_of,
    stream_events,
    summary,
)
from usage_model.read.planner import Plan, plan_summary
from usage_model.read.request import (
    DIMENSIONS,
    GRANULARITIES,
    MEASURES,
    BadRequest,
    SummaryRequest,
    build_summary_request,
)
from usage_model.read.stream import EventStream

__all__ = [
    "DIMENSIONS",
    "GRANULARITIES",
    "MEASURES",
    "BadRequest",
    "EventStream",
    "Plan",
    "SummaryRequest",
    "build_summary_request",
    "curated_day_files",
    "events",
    "me",
    "me_plan",
    "next_cursor",
    "plan",
    "plan_summary",
    "run_plan",
    "source_of",
    "stream_events",
    "summary",
]
