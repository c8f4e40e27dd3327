"""Small presentation helpers shared by assets (metadata previews) and the CLI."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        text = "null" if value is None else str(value)
        return text.replace("|", "\\|").replace("\n", " ")[:80]

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def query_markdown(
    conn: duckdb.DuckDBPyConnection, sql: str, params: object = None
) -> str:
    """A query's rows as a markdown table (for `MetadataValue.md` previews)."""
    result = conn.execute(sql, params) if params is not None else conn.execute(sql)
    columns = [d[0] for d in result.description]
    return markdown_table(columns, result.fetchall())
