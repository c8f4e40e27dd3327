"""`sample-data`, `materialize` and `report`: write landing data, run the graph, look at it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from pipelines.cli.ranges import (
    BUILD_FROM_HELP,
    BUILD_RANGE_NOTE,
    BUILD_TO_HELP,
    READ_FROM_HELP,
    READ_RANGE_NOTE,
    READ_TO_HELP,
    command_help,
)
from usage_model.config import Settings
from usage_model.warehouse import WarehouseLocked, WarehouseMissing, connect

# soft_wrap: a line is never broken at the console's width (pipes and logs keep it whole).
console = Console(stderr=True, soft_wrap=True)


def _progress(*columns, transient: bool = False) -> Progress:
    """A progress bar on a terminal only: rich's live display writes an empty line when
    stderr is a pipe or a file, and a failure must stay exactly one line there."""
    return Progress(*columns, console=console, transient=transient, disable=not console.is_terminal)


def sample_data(
    days: Annotated[int, typer.Option(min=1, help="How many days, ending yesterday.")] = 14,
    events_per_day: Annotated[int, typer.Option(min=10, help="Calls per day.")] = 4000,
    seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 7,
) -> None:
    """Write realistic sample usage files (with duplicates and bad rows) to the landing folder."""
    from usage_model.usage.sample import write_sample_landing

    settings = Settings.from_env()
    with _progress(TextColumn("sample data"), BarColumn(), MofNCompleteColumn()) as progress:
        task = progress.add_task("days", total=days)
        summary = write_sample_landing(
            settings.usage_landing_location(),
            days=days,
            events_per_day=events_per_day,
            seed=seed,
            progress=lambda n: progress.advance(task, n),
        )
    console.print(
        f"wrote {summary.files} files, {summary.rows} rows, {summary.days} days "
        f"under {settings.usage_landing_location().uri}"
    )
    from datetime import timedelta

    from usage_model import clock
    from usage_model.funding.sample import write_sample_balance

    balance = settings.balance_landing_location()
    events = settings.stripe_events_location()
    written = write_sample_balance(balance, events,
                                   [f"u-{i:04d}" for i in range(300)], seed=seed,
                                   end=clock.today() - timedelta(days=1))
    counts = ", ".join(f"{n} {name}" for name, n in written.items() if name != "stripe_events")
    console.print(f"wrote Downcity exports ({counts}) under {balance.uri}, and "
                  f"{written['stripe_events']} Stripe webhook events under "
                  f"{events.uri}")


def materialize(
    from_: Annotated[str | None, typer.Option("--from", help=BUILD_FROM_HELP)] = None,
    to: Annotated[str | None, typer.Option("--to", help=BUILD_TO_HELP)] = None,
    select: Annotated[
        str | None, typer.Option(help="Dagster asset selection, e.g. 'group:usage'.")
    ] = None,
) -> None:
    """Materialize the asset graph through Dagster (default: every day that has landed data).

    Runs are recorded in DAGSTER_HOME (default <CITY_USAGE_DATA_DIR>/dagster, shown by make ui).
    """
    import dagster as dg

    from pipelines.cli.errors import BAD_INPUT, fail
    from pipelines.cli.ranges import parse_build_days
    from pipelines.launch import open_instance
    from pipelines.materialize import MaterializeError, execute, plan_runs
    from usage_model.usage.day_span import landed_day_span

    start, end = parse_build_days(from_, to)
    settings = Settings.from_env()
    landed = landed_day_span(settings) if start is None or end is None else None
    if landed:
        start, end = start or landed[0], end or landed[1]
    from pipelines.definitions import defs

    try:
        if select and not dg.AssetSelection.from_string(select).resolve(
            defs.resolve_asset_graph()
        ):
            fail(f"--select {select!r} matches no asset (see `make ui` for groups and keys)",
                 BAD_INPUT)
        runs = plan_runs(defs, select, start, end)
    except (dg.DagsterInvalidSubsetError, dg.DagsterInvalidDefinitionError, ValueError) as exc:
        fail(f"--select {select!r}: {str(exc).splitlines()[0]}", BAD_INPUT)
    if start is None or end is None:
        root = settings.usage_landing_location().uri
        console.print(f"no usage landed under {root}: no days to build "
                      "(land Parquet files there, or run `city-usage sample-data`)",
                      markup=False, highlight=False)
    if not runs:
        console.print("nothing to materialize (no landed data and no unpartitioned assets)")
        return
    outcomes, failure = [], None
    with _progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        transient=True,  # a failure leaves only its own line behind
    ) as progress:
        task = progress.add_task("runs", total=len(runs))

        def started(planned) -> None:
            progress.update(task, description=f"run {planned.label}")

        try:
            with open_instance() as instance:
                for planned in runs:
                    outcomes += execute(defs, [planned], instance, on_start=started)
                    progress.advance(task)
        except (MaterializeError, WarehouseLocked) as exc:
            failure = str(exc)
    if failure:
        fail(failure)
    for outcome in outcomes:
        failed = (
            f", failed checks: {', '.join(outcome.checks_failed)}" if outcome.checks_failed else ""
        )
        console.print(
            f"ok {outcome.planned.label}: {outcome.materializations} materializations, "
            f"{outcome.checks_passed} checks passed{failed} (run {outcome.run_id[:8]})"
        )
    _print_problem_files(settings)


def _print_problem_files(settings: Settings) -> None:
    from pipelines.cli.errors import one_line

    try:
        with connect(settings.warehouse, read_only=True) as conn:
            rows = conn.execute(
                "SELECT detail FROM usage_quarantine WHERE source_row IS NULL ORDER BY source_file"
            ).fetchall()
    except (WarehouseLocked, WarehouseMissing):
        return
    for (detail,) in rows:
        line = one_line(detail, settings.usage_landing)
        console.print(f"problem file: {line}", markup=False, highlight=False, soft_wrap=True)


def report(
    html: Annotated[Path | None, typer.Option(
        "--html", help="also write the report with charts as one self-contained HTML file")
    ] = None,
    from_: Annotated[str | None, typer.Option("--from", help=READ_FROM_HELP)] = None,
    to: Annotated[str | None, typer.Option("--to", help=READ_TO_HELP)] = None,
) -> None:
    """Usage and funding report: headline numbers and top tables; --html adds the charts.

    Default range: the last 30 days the summaries hold.
    """
    from pipelines.cli.errors import fail
    from pipelines.cli.ranges import parse_read_days
    from usage_model.report import default_range, load_report_data, write_html
    from usage_model.report.text import emit_report

    first, last = parse_read_days(from_, to)
    settings = Settings.from_env()
    try:
        with connect(settings.warehouse, read_only=True) as conn:
            if first is None or last is None:
                default_first, default_last = default_range(conn, settings)
                last = last or max(default_last, first or default_last)
                first = first or min(default_first, last)
            data = load_report_data(conn, settings, first, last)
    except (WarehouseLocked, WarehouseMissing) as exc:
        fail(str(exc))
    emit_report(data)
    if html is not None:
        try:
            written = write_html(data, html)
        except OSError as exc:
            fail(f"{html}: cannot write the report: {exc.strerror or exc}")
        console.print(f"report: {written} ({data.range_label})", markup=False, highlight=False,
                      soft_wrap=True)


def status() -> None:
    """What is built (days, events, files, quarantine by reason), where it is, what to run next."""
    from pipelines.cli.errors import fail
    from pipelines.instance import dagster_home
    from usage_model.report.status import load_status, status_lines

    settings = Settings.from_env()
    try:
        with connect(settings.warehouse, read_only=True) as conn:
            built = load_status(conn)
    except (WarehouseLocked, WarehouseMissing) as exc:
        fail(str(exc))
    for line in status_lines(built, settings, str(dagster_home())):
        typer.echo(line)


def register(app: typer.Typer) -> None:
    app.command("sample-data")(sample_data)
    app.command("materialize", help=command_help(materialize, BUILD_RANGE_NOTE))(materialize)
    app.command("report", help=command_help(report, READ_RANGE_NOTE))(report)
    app.command("status")(status)

