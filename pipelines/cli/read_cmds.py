"""`city-usage summary`, `events` and `me`: the read surface on the command line.

Ranges are half-open `[--from, --to)` (pipelines/cli/ranges.py): a date means midnight in
CITY_USAGE_TIMEZONE; `events` also takes ISO-8601 instants. Exit 0 on success, 2 on bad
input, 1 when the warehouse is locked or missing or a query fails; every failure is one line
on stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import duckdb
import typer

from pipelines.cli.errors import BAD_INPUT, fail
from pipelines.cli.ranges import (
    INSTANT_NOTE,
    READ_FROM_HELP,
    READ_FROM_INSTANT_HELP,
    READ_RANGE_NOTE,
    READ_TO_HELP,
    READ_TO_INSTANT_HELP,
    command_help,
)
from usage_model.config import Settings
from usage_model.read import BadRequest, api
from usage_model.read.render import FORMATS, write, write_batches
from usage_model.warehouse import WarehouseLocked, WarehouseMissing, require_warehouse

From = Annotated[str | None, typer.Option("--from", help=READ_FROM_HELP)]
To = Annotated[str | None, typer.Option("--to", help=READ_TO_HELP)]
FromInstant = Annotated[str | None, typer.Option("--from", help=READ_FROM_INSTANT_HELP)]
ToInstant = Annotated[str | None, typer.Option("--to", help=READ_TO_INSTANT_HELP)]
City = Annotated[str | None, typer.Option("--city", help="only this city_id")]
User = Annotated[str | None, typer.Option("--user", help="only this user_id")]
Model = Annotated[str | None, typer.Option("--model", help="only this model_id")]
Service = Annotated[str | None, typer.Option("--service", help="only this service")]
Status = Annotated[str | None, typer.Option("--status", help="only this status")]
Format = Annotated[str, typer.Option("--format", help="table | json | csv | parquet")]
Out = Annotated[Path | None, typer.Option("--out", help="write here instead of stdout")]
Explain = Annotated[bool, typer.Option("--explain", help="print the chosen source on stderr")]
# The aligned table needs every row before its first line; larger pages stream as json/csv.
TABLE_MAX_ROWS = 10_000


def _guarded(action: Callable[[], None]) -> None:
    """Run a command body; turn every expected failure into one line and an exit code."""
    try:
        # Before any option is read: every read command answers "no warehouse yet" alike.
        require_warehouse(Settings.from_env().warehouse)
        action()
    except BadRequest as exc:
        fail(str(exc), BAD_INPUT)
    except (WarehouseLocked, WarehouseMissing) as exc:
        fail(str(exc))
    except (duckdb.Error, OSError) as exc:
        fail(f"read failed: {type(exc).__name__}: {exc}")


def _check_output(fmt: str, out: Path | None) -> None:
    if fmt not in FORMATS:
        raise BadRequest(f"unknown --format {fmt!r}; valid: {', '.join(FORMATS)}")
    if fmt == "parquet" and out is None:
        raise BadRequest("--format parquet needs --out FILE")


def summary_cmd(
    by: Annotated[str | None, typer.Option(
        "--by", help="comma-separated: model, city, user, service, status, provider "
        "(default: Downcity's overview per city, service, status)")] = None,
    start: From = None,
    end: To = None,
    city: City = None,
    user: User = None,
    model: Model = None,
    service: Service = None,
    status: Status = None,
    granularity: Annotated[str, typer.Option(
        "--granularity", help="day | week | month | total")] = "total",
    measures: Annotated[str | None, typer.Option(
        "--measures", help="comma-separated measures, or 'all' (adds latency percentiles)")
    ] = None,
    source: Annotated[str, typer.Option("--source", help="auto | events")] = "auto",
    fmt: Format = "table",
    out: Out = None,
    explain: Explain = False,
) -> None:
    """Usage per group and period, from pre-aggregates whenever they are exact.

    Without --by: Downcity's overview (calls per city, service, status).

    --explain prints the chosen source and why on stderr.
    """

    def body() -> None:
        _check_output(fmt, out)
        settings = Settings.from_env()
        chosen = api.plan(
            by.split(",") if by is not None else None, start=start, end=end,
            city_id=city,
            user_id=user, model_id=model, service=service, status=status,
            granularity=granularity, measures=measures.split(",") if measures else None,
            source=source, settings=settings,
        )
        if explain:
            typer.echo(chosen.explain(), err=True)
        table = api.run_plan(chosen, settings)
        write(table, fmt, out, title=f"usage summary {start or '…'} – {end or '…'}")

    _guarded(body)


def events_cmd(
    start: FromInstant = None,
    end: ToInstant = None,
    city: City = None,
    user: User = None,
    model: Model = None,
    service: Service = None,
    status: Status = None,
    limit: Annotated[int, typer.Option("--limit", help="rows per page")] = 100,
    after: Annotated[str | None, typer.Option(
        "--after", help="cursor printed by the previous page")] = None,
    fmt: Format = "table",
    out: Out = None,
) -> None:
    """Curated events in (occurred_at, event_id) order, a page at a time.

    The next page's cursor is printed on stderr. json, csv and parquet stream in batches
    (bounded memory, any --limit); the table format shows at most 10,000 rows.
    """

    def body() -> None:
        _check_output(fmt, out)
        if fmt == "table" and limit > TABLE_MAX_ROWS:
            raise BadRequest(f"--format table shows at most {TABLE_MAX_ROWS:,} rows (--limit "
                             f"{limit:,}); use --format json, csv or parquet, which stream")
        stream = api.stream_events(start=start, end=end, city_id=city, user_id=user,
                                   model_id=model, service=service, status=status, limit=limit,
                                   after=after)
        if fmt == "table":
            write(stream.read_all(), fmt, out, title="usage events")
        else:
            try:
                write_batches(stream, stream.schema, fmt, out)
            except BrokenPipeError:  # the reader (`| head`) has what it wanted: stop quietly
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return
        if stream.next_cursor:
            typer.echo(f"next page: --after {stream.next_cursor}", err=True)

    _guarded(body)


def me_cmd(
    city: Annotated[str, typer.Option("--city", help="your city_id")],
    user: Annotated[str, typer.Option("--user", help="your user_id")],
    start: From = None,
    end: To = None,
    fmt: Format = "table",
    out: Out = None,
    explain: Explain = False,
) -> None:
    """One user's own usage in one city, one row per day."""

    def body() -> None:
        _check_output(fmt, out)
        settings = Settings.from_env()
        chosen = api.me_plan(city, user, start=start, end=end, settings=settings)
        if explain:
            typer.echo(chosen.explain(), err=True)
        table = api.me(city, user, start=start, end=end, settings=settings)
        write(table, fmt, out, title=f"usage of {user} in {city}")

    _guarded(body)


def register(app: typer.Typer) -> None:
    """Add `summary`, `events` and `me` to the `city-usage` app."""
    app.command("summary", help=command_help(summary_cmd, READ_RANGE_NOTE))(summary_cmd)
    app.command("events", help=command_help(events_cmd, READ_RANGE_NOTE, INSTANT_NOTE))(events_cmd)
    app.command("me", help=command_help(me_cmd, READ_RANGE_NOTE))(me_cmd)
