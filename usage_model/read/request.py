"""What a read asks for: dimensions, measures, filters and ranges, validated.

Every user-facing mistake raises `BadRequest` with one line that names what is wrong and lists
what is valid. Ranges are half-open `[start, end)`; a date means its midnight in
`CITY_USAGE_TIMEZONE`, an instant without an offset is UTC (docs/event-model.md rules 1, 2 and 12).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


class BadRequest(ValueError):
    """A read request that cannot be answered as asked (bad date, unknown dimension, ...)."""


# Dimensions a summary can group or filter by (column names); CLI short names map onto them.
DIMENSIONS = ("city_id", "user_id", "model_id", "service", "status", "provider")
DIMENSION_ALIASES = {"city": "city_id", "user": "user_id", "model": "model_id"}

ADDITIVE_MEASURES = (
    "calls",
    "success_calls",
    "error_calls",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "reasoning_tokens",
    "cost_credits",
)
# Exact distinct counts: measure -> the column whose non-null values are counted.
DISTINCT_MEASURES = {"distinct_users": "user_id", "distinct_cities": "city_id"}
# Latency percentiles (continuous, exact): measure -> quantile.
PERCENTILE_MEASURES = {"p50_latency_ms": 0.5, "p95_latency_ms": 0.95}
MEASURES = ADDITIVE_MEASURES + tuple(DISTINCT_MEASURES) + tuple(PERCENTILE_MEASURES)

# `summary` with no grouping: Downcity's overview (per city, service, status: count).
OVERVIEW_DIMENSIONS = ("city_id", "service", "status")
OVERVIEW_MEASURES = ("calls", "input_tokens", "output_tokens")

GRANULARITIES = ("day", "week", "month", "total")

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def short_name(column: str) -> str:
    """The CLI name of a dimension column (`model_id` -> `model`)."""
    return {v: k for k, v in DIMENSION_ALIASES.items()}.get(column, column)


def parse_dimensions(names: Iterable[str]) -> tuple[str, ...]:
    """Map `model`, `city`, `user` (or the column names) to columns; reject unknown or repeated."""
    dims: list[str] = []
    for raw in names:
        name = raw.strip()
        column = DIMENSION_ALIASES.get(name, name)
        if column not in DIMENSIONS:
            valid = ", ".join(sorted(short_name(d) for d in DIMENSIONS))
            raise BadRequest(f"unknown --by dimension {name!r}; valid: {valid}")
        if column in dims:
            raise BadRequest(f"--by dimension {name!r} is given twice")
        dims.append(column)
    return tuple(dims)


def default_measures(dims: tuple[str, ...]) -> tuple[str, ...]:
    """Every additive measure, plus the distinct counts that mean something for this grouping.

    Latency percentiles are asked for explicitly (`measures=` / `--measures all`).
    """
    extra = tuple(m for m, col in DISTINCT_MEASURES.items() if col not in dims)
    return ADDITIVE_MEASURES + extra


def parse_measures(names: Iterable[str] | None, dims: tuple[str, ...]) -> tuple[str, ...]:
    """Validate measures and return them in canonical order (`all` = every measure)."""
    if names is None:
        return default_measures(dims)
    wanted = [n.strip() for n in names if n.strip()]
    if wanted == ["all"]:
        return default_measures(dims) + tuple(PERCENTILE_MEASURES)
    for name in wanted:
        if name not in MEASURES:
            raise BadRequest(f"unknown measure {name!r}; valid: all, {', '.join(MEASURES)}")
    if not wanted:
        raise BadRequest(f"no measure given; valid: all, {', '.join(MEASURES)}")
    return tuple(m for m in MEASURES if m in wanted)


def parse_granularity(value: str) -> str:
    if value not in GRANULARITIES:
        raise BadRequest(f"unknown granularity {value!r}; valid: {', '.join(GRANULARITIES)}")
    return value


def parse_day(value: date | str | None, option: str) -> date | None:
    """A calendar date: a `date` or `YYYY-MM-DD` text. Instants are not days."""
    if value is None:
        return None
    if isinstance(value, datetime):
        raise BadRequest(f"bad {option} {value.isoformat()!r}: expected a date YYYY-MM-DD")
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if _DATE_RE.match(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise BadRequest(f"bad {option} {text!r}: expected a date YYYY-MM-DD")


def parse_instant(
    value: date | datetime | str | None, option: str, tz: ZoneInfo
) -> datetime | None:
    """An instant (UTC): a date is its midnight in `tz`; ISO text without offset is UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(), tzinfo=tz)
    else:
        text = str(value).strip()
        if _DATE_RE.match(text):
            day = parse_day(text, option)
            assert day is not None
            moment = datetime.combine(day, time(), tzinfo=tz)
        else:
            try:
                if "T" not in text and " " not in text:
                    raise ValueError(text)
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise BadRequest(
                    f"bad {option} {text!r}: expected YYYY-MM-DD or an ISO-8601 instant "
                    "such as 2026-01-01T10:00:00Z"
                ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def check_order(start: object, end: object) -> None:
    if start is not None and end is not None and not start < end:  # type: ignore[operator]
        raise BadRequest(
            f"empty range: --from {start} is not before --to {end} (ranges are [from, to))"
        )


def first_of_next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def check_filters(filters: Mapping[str, object]) -> dict[str, str]:
    """Keep the given filters; each value is an opaque id compared exactly."""
    kept: dict[str, str] = {}
    for column, value in filters.items():
        if value is None:
            continue
        if column not in DIMENSIONS:
            raise BadRequest(f"unknown filter {column!r}; valid: {', '.join(DIMENSIONS)}")
        if not isinstance(value, str):
            raise BadRequest(f"filter {column} must be text, got {type(value).__name__}")
        kept[column] = value
    return kept


@dataclass(frozen=True)
class SummaryRequest:
    """A validated summary: group by `dims` per `granularity` bucket over days [start, end)."""

    dims: tuple[str, ...]
    measures: tuple[str, ...]
    granularity: str = "total"
    start: date | None = None
    end: date | None = None
    filters: Mapping[str, str] = field(default_factory=dict)
    record_errors: bool = True

    @property
    def time_column(self) -> str | None:
        return {"day": "day", "total": None}.get(self.granularity, "period")

    @property
    def month_aligned(self) -> bool:
        """Every bucket edge falls on a month start (open ends count as aligned)."""
        return all(d is None or d.day == 1 for d in (self.start, self.end))

    @property
    def exactly_one_month(self) -> bool:
        return (
            self.start is not None
            and self.start.day == 1
            and self.end == first_of_next_month(self.start)
        )


def build_summary_request(
    by: Iterable[str] | None = None,
    *,
    start: date | str | None = None,
    end: date | str | None = None,
    granularity: str = "total",
    measures: Iterable[str] | None = None,
    filters: Mapping[str, object] | None = None,
    record_errors: bool = True,
) -> SummaryRequest:
    """Validate a summary request. `by=None` is Downcity's overview; `by=()` a grand total."""
    if by is None:
        dims = OVERVIEW_DIMENSIONS
        chosen = parse_measures(OVERVIEW_MEASURES if measures is None else measures, dims)
    else:
        if isinstance(by, str):
            by = by.split(",")
        dims = parse_dimensions(by)
        chosen = parse_measures(measures, dims)
    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    check_order(first, last)
    return SummaryRequest(
        dims=dims,
        measures=chosen,
        granularity=parse_granularity(granularity),
        start=first,
        end=last,
        filters=check_filters(filters or {}),
        record_errors=record_errors,
    )
