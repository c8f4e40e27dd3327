"""The one SQL loader: statements live in `sql/<name>.sql` beside the module that runs them.

Values are DuckDB named parameters (`$name`), bound by the driver, never spliced into text.
Identifiers cannot be bound (DuckDB has no parameter for a table name), so a statement that
works on a caller's temp table says `{{name}}` and the caller passes the table explicitly as
`idents={"name": "build_rows"}`; each identifier is checked and quoted before it is spliced.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

import duckdb

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


class SqlError(ValueError):
    """A statement file is missing, or an identifier placeholder is missing or unsafe."""


@cache
def _read(path: Path) -> str:
    if not path.is_file():
        raise SqlError(f"{path}: no such SQL statement file")
    return path.read_text()


def quote_ident(name: str) -> str:
    """A double-quoted identifier; refuses anything but plain names (no injection)."""
    if not _IDENT.fullmatch(name):
        raise SqlError(f"{name!r}: not a plain SQL identifier")
    return f'"{name}"'


def load_sql(anchor: str | Path, name: str, idents: Mapping[str, str] | None = None) -> str:
    """The text of `sql/<name>.sql` in the folder of `anchor` (pass the module's `__file__`),
    with every `{{placeholder}}` replaced by the quoted identifier given in `idents`."""
    text = _read(Path(anchor).resolve().parent / "sql" / f"{name}.sql")
    given = dict(idents or {})

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in given:
            raise SqlError(f"sql/{name}.sql: no identifier given for {{{{{key}}}}}")
        return quote_ident(given[key])

    return _PLACEHOLDER.sub(substitute, text)


def run_sql(
    conn: duckdb.DuckDBPyConnection,
    anchor: str | Path,
    name: str,
    *,
    idents: Mapping[str, str] | None = None,
    **params: object,
) -> duckdb.DuckDBPyConnection:
    """Execute `sql/<name>.sql` with named parameters; returns the connection for fetching."""
    text = load_sql(anchor, name, idents)
    return conn.execute(text, params) if params else conn.execute(text)


def run_sql_many(
    conn: duckdb.DuckDBPyConnection,
    anchor: str | Path,
    name: str,
    rows: Sequence[Mapping[str, object]],
    *,
    idents: Mapping[str, str] | None = None,
) -> None:
    """Execute `sql/<name>.sql` once per row of named parameters (nothing for no rows: DuckDB
    refuses an executemany without any)."""
    if rows:
        conn.executemany(load_sql(anchor, name, idents), list(rows))
