"""What has been built so far, in a few lines (the end of `make demo`, `city-usage status`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb

from usage_model.config import Settings
from usage_model.report import numbers as fmt
from usage_model.sql import run_sql


@dataclass(frozen=True)
class BuildStatus:
    first_day: date | None
    last_day: date | None
    days: int
    events: int
    identical_duplicates: int
    files: int
    unreadable_files: int
    rows_read: int
    quarantine: list[tuple[str, int, int]]  # reason, rows, whole files


def load_status(conn: duckdb.DuckDBPyConnection) -> BuildStatus:
    first, last, days, events, duplicates = run_sql(conn, __file__, "status_days").fetchall()[0]
    files, unreadable, rows_read = run_sql(conn, __file__, "status_files").fetchall()[0]
    quarantine = run_sql(conn, __file__, "status_quarantine").fetchall()
    return BuildStatus(first, last, days, int(events), int(duplicates), files, unreadable,
                       int(rows_read), [(r, int(n), int(f)) for r, n, f in quarantine])


def _quarantine_line(status: BuildStatus) -> str:
    if not status.quarantine:
        return "nothing"
    rows = sum(n for _, n, _ in status.quarantine)
    files = sum(f for _, _, f in status.quarantine)
    parts = [f"{reason} {fmt.count(n + f)}" + (" (whole file)" if f and not n else "")
             for reason, n, f in status.quarantine]
    return f"{fmt.plural(rows, 'row')} and {fmt.plural(files, 'file')}: " + ", ".join(parts)


def status_lines(status: BuildStatus, settings: Settings, dagster_home: str | None) -> list[str]:
    """The summary a person reads after a build: what, where, and what to run next."""
    span = f" ({status.first_day} – {status.last_day})" if status.first_day else ""
    report = settings.report_path
    if report.exists():
        built = datetime.fromtimestamp(report.stat().st_mtime, UTC)
        report_line = f"{report} (built {built:%Y-%m-%d %H:%M} UTC)"
    else:
        report_line = f"{report} (not built yet)"
    return [
        f"built:       {fmt.count(status.days)} days{span}, {fmt.count(status.events)} events "
        f"from {fmt.count(status.files)} landed files ({fmt.count(status.rows_read)} rows read, "
        f"{fmt.count(status.identical_duplicates)} identical duplicates dropped)",
        f"quarantined: {_quarantine_line(status)}",
        f"warehouse:   {settings.warehouse}",
        f"report:      {report_line}",
        f"dagster:     runs recorded in {dagster_home or 'an ephemeral instance'}",
        "next:        make ui                                  # lineage, runs, per-day metadata "
        "on http://127.0.0.1:3000",
        "             uv run city-usage summary --by model     # usage per model, all days",
        "             uv run city-usage report --html report.html "
        f"--from {status.first_day or 'YYYY-MM-DD'} --to {_day_after(status.last_day)}",
    ]


def _day_after(day: date | None) -> str:
    """Reads take [--from, --to): the end of a range that includes `day`."""
    return (day + timedelta(days=1)).isoformat() if day else "YYYY-MM-DD"
