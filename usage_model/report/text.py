"""The report for a terminal or a pipe: headline numbers, then the sections' tables.

On a terminal, rich tables fit the width (long cells wrap); through a pipe the lines are plain
text, one row per line, never broken mid-phrase.
"""

from __future__ import annotations

import io
import sys

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from usage_model.report.data import ReportData
from usage_model.report.page import SECTIONS, Section, headline_items

TERMINAL_SECTIONS = ("top_cities", "top_users", "latency", "topups", "quarantine", "exceptions")


def _table(headers: list[tuple[str, bool]], rows: list[list[str]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    for header, numeric in headers:
        table.add_column(Text(header), justify="right" if numeric else "left",
                         overflow="fold", no_wrap=numeric)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def _print_section(section: Section, data: ReportData, console: Console) -> None:
    # The title is its own line, so a pipe never gets it broken to the table's width.
    console.print(Text(section.heading(data), style="bold"))
    rows = section.rows(data)
    if not rows:
        console.print(Text(f"  {section.empty}\n"))
        return
    console.print(_table(
        [(c.header, c.numeric) for c in section.columns],
        [[c.show(row.get(c.field)) for c in section.columns] for row in rows],
    ))


def print_report(data: ReportData, console: Console) -> None:
    """Headline numbers and the terminal sections on `console`."""
    console.print(Text(f"City usage report · {data.range_label} · {data.days} days",
                       style="bold"))
    console.print(_table(
        [("measure", False), ("value", True)],
        [[k, v] for k, v in headline_items(data)],
    ))
    if data.headline()["calls"] == 0:
        console.print(Text(f"No usage recorded between {data.range_label}.\n"))
    chosen = {s.key: s for s in SECTIONS}
    for key in TERMINAL_SECTIONS:
        _print_section(chosen[key], data, console)


def emit_report(data: ReportData) -> None:
    """The report on stdout: fitted to a terminal, or plain lines (no trailing blanks, never
    wrapped) for a pipe."""
    terminal = Console()
    if terminal.is_terminal:
        print_report(data, terminal)
        return
    buffer = io.StringIO()
    print_report(data, Console(file=buffer, width=100_000, color_system=None, highlight=False,
                               emoji=False))
    sys.stdout.write("".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines()))
