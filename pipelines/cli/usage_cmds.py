"""`sample-data`, `materialize` and `report`: write landing data, run the graph, look at it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from usage_model.config import Settings
from usage_model.funding.report import FUNDING_BY_VERDICT_SQL
from usage_model.warehouse import WarehouseLocked, WarehouseMissing, connect

console = Console(stderr=True)


def _progress(*columns, transient: bool = False) -> Progress:
    """A progress bar on a terminal only: rich's live display writes an empty line when
    stderr is a pipe or a file, and a failure must stay exactly one line there."""
    return Progress(*columns, console=console, transient=transient, disable=not console.is_terminal)

_TOTALS = (
    "sum(calls) AS calls, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens"
)
REPORT_QUERIES = {
    "usage_daily_by_model (top 10 by calls, all days)": (
        f"SELECT model_id, {_TOTALS}, sum(error_calls) AS error_calls "
        "FROM usage_daily_by_model GROUP BY ALL ORDER BY calls DESC LIMIT 10"
    ),
    "usage_daily_by_city (all days)": (
        f"SELECT city_id, {_TOTALS}, sum(error_calls) AS error_calls "
        "FROM usage_daily_by_city GROUP BY ALL ORDER BY calls DESC LIMIT 10"
    ),
    "usage_daily_by_user (top 10 by calls, all days)": (
        f"SELECT city_id, user_id, {_TOTALS} "
        "FROM usage_daily_by_user GROUP BY ALL ORDER BY calls DESC LIMIT 10"
    ),
    "funding_mode (which ledger is the wallet of record)": (
        "SELECT mode, downcity_ledger_entries, reason FROM funding_mode"
    ),
    "reconciliation_report (verdicts, credits at stake)": FUNDING_BY_VERDICT_SQL,
    "reconciliation_exceptions (by reason)": (
        "SELECT reason, count(*) AS open, sum(credits_at_stake)::BIGINT AS credits "
        "FROM reconciliation_exceptions GROUP BY reason ORDER BY open DESC, reason"
    ),
    "usage_quarantine (by reason)": (
        "SELECT reason, count(*) AS entries, "
        "count(*) FILTER (WHERE source_row IS NULL) AS whole_files "
        "FROM usage_quarantine GROUP BY reason ORDER BY entries DESC"
    ),
}


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
            settings.usage_landing,
            days=days,
            events_per_day=events_per_day,
            seed=seed,
            progress=lambda n: progress.advance(task, n),
        )
    console.print(
        f"wrote {summary.files} files, {summary.rows} rows, {summary.days} days "
        f"under {settings.usage_landing}"
    )
    from datetime import timedelta

    from usage_model import clock
    from usage_model.funding.sample import write_sample_balance

    written = write_sample_balance(settings.balance_landing, settings.stripe_events_landing,
                                   [f"u-{i:04d}" for i in range(300)], seed=seed,
                                   end=clock.today() - timedelta(days=1))
    counts = ", ".join(f"{n} {name}" for name, n in written.items() if name != "stripe_events")
    console.print(f"wrote Downcity exports ({counts}) under {settings.balance_landing}, and "
                  f"{written['stripe_events']} Stripe webhook events under "
                  f"{settings.stripe_events_landing}")


def materialize(
    from_: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last day, inclusive.")] = None,
    select: Annotated[
        str | None, typer.Option(help="Dagster asset selection, e.g. 'group:usage'.")
    ] = None,
) -> None:
    """Materialize the asset graph through Dagster (default: every day that has landed data)."""
    import dagster as dg

    from pipelines.cli.errors import BAD_INPUT, fail, parse_day
    from pipelines.materialize import (
        MaterializeError,
        execute,
        instance_for_cli,
        landed_day_range,
        plan_runs,
    )

    start, end = parse_day(from_, "--from"), parse_day(to, "--to")
    if start and end and start > end:
        fail(f"--from {start} is after --to {end}", BAD_INPUT)
    settings = Settings.from_env()
    if start is None or end is None:
        landed = landed_day_range(settings)
        if landed:
            start, end = start or landed[0], end or landed[1]
    from pipelines.definitions import defs

    try:
        runs = plan_runs(defs, select, start, end)
    except (dg.DagsterInvalidSubsetError, dg.DagsterInvalidDefinitionError, ValueError) as exc:
        fail(f"--select {select!r}: {str(exc).splitlines()[0]}", BAD_INPUT)
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
            with instance_for_cli() as instance:
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


def report() -> None:
    """Print the top rows of each summary and the quarantine counts by reason."""
    from pipelines.cli.errors import fail

    settings = Settings.from_env()
    out = Console()
    try:
        with connect(settings.warehouse, read_only=True) as conn:
            for title, sql in REPORT_QUERIES.items():
                result = conn.execute(sql)
                table = Table(title=title, title_justify="left")
                for column in result.description:
                    table.add_column(
                        column[0], justify="right" if column[1] != "VARCHAR" else "left"
                    )
                for row in result.fetchall():
                    table.add_row(
                        *(
                            "∅" if v is None else f"{v:,}" if isinstance(v, int) else str(v)
                            for v in row
                        )
                    )
                out.print(table)
    except (WarehouseLocked, WarehouseMissing) as exc:
        fail(str(exc))


def register(app: typer.Typer) -> None:
    app.command("sample-data")(sample_data)
    app.command("materialize")(materialize)
    app.command("report")(report)
