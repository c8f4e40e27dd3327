"""Render read answers: json and csv for machines, an aligned rich table for people.

json: one array of objects keyed by column name; dates `YYYY-MM-DD`, instants ISO-8601 UTC,
null as null. csv: a header line, then one line per row; null as an empty field.
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table
from rich.text import Text

from usage_model.report.numbers import credits

FORMATS = ("table", "json", "csv", "parquet")
NULL_CELL = "∅"


def _plain(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def to_json(table: pa.Table) -> str:
    rows = [{k: _plain(v) for k, v in row.items()} for row in table.to_pylist()]
    return json.dumps(rows, ensure_ascii=False) + "\n"


def to_csv(table: pa.Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow(["" if v is None else _plain(v) for v in row.values()])
    return out.getvalue()


def _cell(value: object, column: str = "") -> str:
    if value is None:
        return NULL_CELL
    if isinstance(value, int) and column.endswith("credits"):
        return credits(value)  # "3,618,766 credits ($3.62)": people read dollars
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(_plain(value))


def to_rich_table(table: pa.Table, title: str | None = None) -> Table:
    numeric = {f.name for f in table.schema if pa.types.is_integer(f.type)
               or pa.types.is_floating(f.type)}
    # Text, not markup: an id such as "[red]x" is shown as it is, never interpreted.
    view = Table(title=Text(title) if title else None, title_justify="left", show_lines=False)
    for name in table.column_names:
        view.add_column(Text(name), justify="right" if name in numeric else "left",
                        no_wrap=True)
    for row in table.to_pylist():
        view.add_row(*(Text(_cell(v, k)) for k, v in row.items()))
    if table.num_rows == 0:
        view.caption = "no rows"
    return view


def _table_width(widths: list[int]) -> int:
    return sum(widths) + 3 * len(widths) + 1  # rich's borders and one space of padding a side


def print_table(table: pa.Table, file: io.TextIOBase | None = None, title: str | None = None,
                color: bool | None = None, terminal_width: int | None = None) -> None:
    """Print an aligned table, one line a row. A file or a pipe gets every column, never
    wrapped; a terminal gets the columns that fit its width and a note naming the others."""
    cells = [[c for c in table.column_names]] + [[_cell(v, k) for k, v in r.items()]
                                                 for r in table.to_pylist()]
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.column_names))]
    if terminal_width is None and file is None:
        probe = Console()
        terminal_width = probe.width if probe.is_terminal else None
    hidden: list[str] = []
    if terminal_width is not None:
        keep = len(widths)
        while keep > 1 and _table_width(widths[:keep]) > terminal_width:
            keep -= 1
        hidden = table.column_names[keep:]
        table = table.select(table.column_names[:keep])
        widths = widths[:keep]
    width = max(80, _table_width(widths) + 3, len(title or ""))
    if terminal_width is not None:
        width = min(width, terminal_width)
    console = Console(file=file, width=width, no_color=color is False,
                      force_terminal=False if color is False else None)
    console.print(to_rich_table(table, title))
    if hidden:
        console.print(Text(f"{len(hidden)} more columns not shown ({', '.join(hidden)}): "
                           "widen the terminal, or use --format csv or json"), soft_wrap=True)


def write(table: pa.Table, fmt: str, out: Path | None, title: str | None = None) -> None:
    """Write `table` as `fmt` to `out`, or to stdout (parquet needs `out`)."""
    if fmt == "parquet":
        assert out is not None
        pq.write_table(table, out)
        return
    if fmt == "table":
        if out is None:
            print_table(table, title=title)
        else:
            with out.open("w", encoding="utf-8") as fh:
                print_table(table, fh, title=title, color=False)
        return
    text = to_json(table) if fmt == "json" else to_csv(table)
    if out is None:
        print(text, end="")
    else:
        out.write_text(text, encoding="utf-8")
