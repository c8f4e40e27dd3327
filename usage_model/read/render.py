"""Render read answers: json and csv for machines, an aligned rich table for people.

json: one array of objects keyed by column name; dates `YYYY-MM-DD`, instants ISO-8601 UTC,
null as null. csv: a header line, then one line per row; null as an empty field.
json, csv and parquet can also be written batch by batch (`write_batches`): the bytes are the
same as for the whole table, and memory holds one batch. The aligned table needs every row
before its first line (column widths), so it is for small answers only.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table
from rich.text import Text

from usage_model.report.numbers import credits

FORMATS = ("table", "json", "csv", "parquet")
Rows = pa.Table | pa.RecordBatch
NULL_CELL = "∅"


def _plain(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


_UTC_MICROS = pa.timestamp("us", tz="UTC")


def _temporal_as_text(rows: Rows) -> Rows:
    """Dates and UTC microsecond instants as ISO text, the same as `isoformat()` gives, but
    vectorized: `to_pylist` on tz-aware instants is half the cost of rendering events."""
    for i, column in enumerate(rows.schema):
        if pa.types.is_date32(column.type):
            text = rows.column(i).cast(pa.string())
        elif column.type == _UTC_MICROS:  # Arrow's %S carries the 6 fraction digits
            text = pc.strftime(rows.column(i), "%Y-%m-%dT%H:%M:%S")
            text = pc.replace_substring_regex(text, r"\.000000$", "")  # isoformat drops it
            text = pc.binary_join_element_wise(text, "+00:00", "")
        else:
            continue
        rows = rows.set_column(i, column.name, text)
    return rows


def _json_rows(rows: Rows) -> Iterator[str]:
    for row in _temporal_as_text(rows).to_pylist():
        yield json.dumps({k: _plain(v) for k, v in row.items()}, ensure_ascii=False)


def _csv_rows(rows: Rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in _temporal_as_text(rows).to_pylist():
        writer.writerow(["" if v is None else _plain(v) for v in row.values()])
    return out.getvalue()


def _csv_header(schema: pa.Schema) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(schema.names)
    return out.getvalue()


def to_json(table: pa.Table) -> str:
    return "[" + ", ".join(_json_rows(table)) + "]\n"


def to_csv(table: pa.Table) -> str:
    return _csv_header(table.schema) + _csv_rows(table)


def _text_chunks(batches: Iterable[pa.RecordBatch], schema: pa.Schema,
                 fmt: str) -> Iterator[str]:
    """json or csv text, a batch at a time; joined, the same text as `to_json` / `to_csv`."""
    if fmt == "csv":
        yield _csv_header(schema)
        yield from (_csv_rows(batch) for batch in batches)
        return
    separator = "["
    for batch in batches:
        for row in _json_rows(batch):
            yield separator + row
            separator = ", "
    yield ("[" if separator == "[" else "") + "]\n"


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


def write_batches(batches: Iterable[pa.RecordBatch], schema: pa.Schema, fmt: str,
                  out: Path | None) -> None:
    """Write record batches as json, csv or parquet as they come (memory: one batch)."""
    if fmt == "parquet":
        assert out is not None
        with pq.ParquetWriter(out, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
        return
    if fmt not in ("json", "csv"):
        raise ValueError(f"{fmt} cannot be written batch by batch")
    with (nullcontext(sys.stdout) if out is None else out.open("w", encoding="utf-8")) as fh:
        for chunk in _text_chunks(batches, schema, fmt):
            fh.write(chunk)


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
