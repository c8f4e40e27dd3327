"""Read one landed file into Usage Event Model v1 rows, each with its rejection reason.

Two steps, so that every rule has one home:
1. `read_landed_file` opens the Parquet file and checks its schema with pyarrow. A file that
   cannot be read, lacks a required column or has a column that cannot be cast is rejected
   whole (`unreadable_file`, `schema_mismatch`), with a one-line detail.
2. `normalize` maps the file's shape (native or Downcity export) onto canonical columns and
   runs `sql/validate.sql` in DuckDB, which assigns each row at most one reason, in the order
   docs/event-model.md rule 5 fixes, after `bad_encoding` (a column it uses holds text that is not
   UTF-8: its bytes are replaced by U+FFFD so that the row's raw JSON can still be kept).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from usage_model.usage.event_model import TOKEN_COLUMNS

SQL_DIR = Path(__file__).parent / "sql"
VALIDATE_SQL = (SQL_DIR / "validate.sql").read_text()

# ISO-8601 / RFC 3339 date-time; without an offset it is UTC (docs/event-model.md rule 2).
# A date alone, or any other layout, is a bad_timestamp even where DuckDB's cast would accept it.
ISO_INSTANT = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}(:?\d{2})?)?"
TEXT_TIME = {
    "occurred_at_expr": (
        f"CASE WHEN regexp_full_match(occurred_at, '{ISO_INSTANT}') "
        "THEN TRY_CAST(upper(occurred_at) AS TIMESTAMPTZ) END"  # DuckDB reads only 'Z'
    ),
    "occurred_at_missing": "(occurred_at IS NULL OR occurred_at = '')",
}
TYPED_TIME = {"occurred_at_expr": "occurred_at", "occurred_at_missing": "(occurred_at IS NULL)"}
# Downcity's export has no latency column: it is ended_at - started_at from metadata_json,
# given either as epoch milliseconds or as ISO-8601 text, snake_case or camelCase keys.
_META_KEY = (
    "coalesce(json_extract_string(metadata_json, '$.{snake}'), "
    "json_extract_string(metadata_json, '$.{camel}'))"
)
_META_MS = (
    "coalesce(TRY_CAST({v} AS DOUBLE), epoch_ms(TRY_CAST({v} AS TIMESTAMPTZ)))"
)
DOWNCITY_LATENCY = (
    "CASE WHEN json_valid(metadata_json) THEN "
    + _META_MS.format(v=_META_KEY.format(snake="ended_at", camel="endedAt"))
    + " - "
    + _META_MS.format(v=_META_KEY.format(snake="started_at", camel="startedAt"))
    + " END"
)
# Downcity's export has no error column: the text is metadata_json's `error` key (kept there too).
DOWNCITY_ERROR = (
    "coalesce(error, CASE WHEN json_valid(metadata_json) "
    "THEN json_extract_string(metadata_json, '$.error') END)"
)

TEXT_COLUMNS = ("event_id", "city_id", "user_id", "service", "model_id", "provider", "status",
                "error", "metadata_json")
INTEGER_COLUMNS = (*TOKEN_COLUMNS, "cost_credits")
ALIASES = {"city_id": "town_id", "model_id": "model"}
ROW_COLUMN = "__source_row"
# Per row: the names of the columns it uses whose text is not valid UTF-8 (else null).
BAD_ENCODING_COLUMN = "__bad_encoding"


@dataclass(frozen=True)
class FileRejection:
    reason: str  # unreadable_file | schema_mismatch
    detail: str
    row_count: int | None


@dataclass(frozen=True)
class PreparedFile:
    """A readable file, its shape, and its columns already cast to canonical Arrow types."""

    shape: str  # native | downcity
    raw: pa.Table  # the file as read, plus ROW_COLUMN (for raw_json of rejected rows)
    typed: pa.Table  # canonical names and types, plus ROW_COLUMN


def _is_text(t: pa.DataType) -> bool:
    return (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
            or pa.types.is_integer(t) or pa.types.is_null(t))


def _cast_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column.cast(pa.string())


def _cast_integer(name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    t = column.type
    if pa.types.is_integer(t) or pa.types.is_null(t):
        return column.cast(pa.int64())
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        as_float = column.cast(pa.float64())
        integral = pc.equal(as_float, pc.floor(as_float))
        if pc.all(pc.fill_null(integral, True)).as_py():
            return as_float.cast(pa.int64())
        raise ValueError(f"column {name} has non-integral values")
    raise ValueError(f"column {name} is {t}, not an integer")


def _cast_timestamp(name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Timestamps of any unit; tz-aware in any zone or naive (= UTC). Strings pass through."""
    t = column.type
    if pa.types.is_timestamp(t):
        if t.tz is None:
            column = column.cast(pa.timestamp(t.unit, tz="UTC"))
        return column.cast(pa.timestamp("us", tz="UTC"), safe=False)
    if _is_text(t) and not pa.types.is_integer(t):
        return _cast_text(column)
    raise ValueError(f"column {name} is {t}, not a timestamp or ISO-8601 text")


def _string_view(t: pa.DataType) -> pa.DataType | None:
    """The binary type a string type can be viewed as (None for other types)."""
    if pa.types.is_string(t):
        return pa.binary()
    if pa.types.is_large_string(t):
        return pa.large_binary()
    return None


def _repair_utf8(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, list[int]]:
    """The column with invalid UTF-8 bytes replaced by U+FFFD, and the rows that had some.

    Parquet does not check that string columns hold UTF-8 and neither does pyarrow's reader,
    but DuckDB refuses such text: it must not reach DuckDB as it landed.
    """
    if pa.types.is_dictionary(column.type) and _string_view(column.type.value_type):
        column = column.cast(column.type.value_type)
    binary = _string_view(column.type)
    if binary is None:
        return column, []
    try:
        column.validate(full=True)
        return column, []
    except pa.ArrowInvalid:
        pass
    values, bad = [], []
    for value in (v for chunk in column.chunks for v in chunk.view(binary).to_pylist()):
        if value is not None:
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                bad.append(len(values))
                value = value.decode("utf-8", errors="replace")
        values.append(value)
    return pa.chunked_array([pa.array(values, type=column.type)]), bad


def _repair_text(table: pa.Table, used: set[str]) -> tuple[pa.Table, pa.Array | None]:
    """Make every string column valid UTF-8; per row, which `used` columns were not."""
    bad_columns: dict[int, list[str]] = {}
    for index, name in enumerate(table.column_names):
        repaired, bad = _repair_utf8(table.column(index))
        if not bad:
            continue
        table = table.set_column(index, table.field(index), repaired)
        if name in used:
            for row in bad:
                bad_columns.setdefault(row, []).append(name)
    if not bad_columns:
        return table, None
    return table, pa.array(
        [", ".join(bad_columns[r]) if r in bad_columns else None for r in range(table.num_rows)],
        type=pa.string(),
    )


def unreadable(exc: Exception) -> FileRejection:
    """The rejection of a file the Parquet reader failed on with `exc`."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    # pyarrow prefixes the absolute path ("... source '/abs/x.parquet': why"): keep the why.
    text = text.split("': ", 1)[-1]
    return FileRejection("unreadable_file", f"not a readable Parquet file ({text})", None)


def read_landed_file(path: Path) -> pa.Table | FileRejection:
    try:
        with path.open("rb"):
            pass  # pyarrow's own message would name the absolute path
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        return FileRejection("unreadable_file", f"cannot be opened ({why})", None)
    try:
        return pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for corrupt or non-Parquet files
        return unreadable(exc)


def parse_landed_bytes(data: bytes | None, error: str | None) -> pa.Table | FileRejection:
    """`read_landed_file` for a file already read into memory (`data` None: it could not be
    read, for the reason `error`)."""
    if data is None:
        return FileRejection("unreadable_file", f"cannot be opened ({error})", None)
    try:
        return pq.read_table(pa.BufferReader(data))
    except Exception as exc:  # pyarrow raises several types for corrupt or non-Parquet files
        return unreadable(exc)


def open_parquet(source: object, error: str | None) -> pq.ParquetFile | FileRejection:
    """The landed file `source` (a readable binary file; None: it could not be read, for the
    reason `error`) opened for reading in batches (`landed_batches`)."""
    if source is None:
        return FileRejection("unreadable_file", f"cannot be opened ({error})", None)
    try:
        return pq.ParquetFile(source)
    except Exception as exc:  # pyarrow raises several types for corrupt or non-Parquet files
        return unreadable(exc)


class UnreadablePart(Exception):
    """A part of a landed file that cannot be decoded (raised by `landed_batches`)."""

    def __init__(self, rejection: FileRejection) -> None:
        super().__init__(rejection.detail)
        self.rejection = rejection


def landed_batches(parquet: pq.ParquetFile, rows: int) -> Iterator[tuple[int, pa.Table]]:
    """The file's rows in order, `rows` at a time (batches span row groups): (the index in
    the file of the batch's first row, the batch). A file without rows is one empty batch.
    A part that cannot be decoded raises UnreadablePart where it is read."""
    reader = parquet.iter_batches(batch_size=rows)
    first = 0
    while True:
        try:
            batch = next(reader)
        except StopIteration:
            break
        except Exception as exc:  # pyarrow raises several types for a corrupt part
            raise UnreadablePart(unreadable(exc)) from exc
        yield first, pa.Table.from_batches([batch])
        first += batch.num_rows
    if first == 0:
        yield 0, parquet.schema_arrow.empty_table()


def prepare(table: pa.Table, first_row: int = 0) -> PreparedFile | FileRejection:
    """Check the schema and cast columns; a file-level problem rejects the whole file.
    `table` holds the file's rows from index `first_row` on (their `source_row`); a
    rejection counts `table`'s rows (the caller reading in batches counts the file's)."""
    names = set(table.column_names)
    shape = "downcity" if "created_at" in names and "occurred_at" not in names else "native"
    time_column = "created_at" if shape == "downcity" else "occurred_at"
    source = {c: c for c in names}
    for canonical, alias in ALIASES.items():
        if canonical not in names and alias in names:
            source[canonical] = alias  # canonical wins over alias (docs/event-model.md rule 3)
    required = ("event_id", time_column, "city_id", "status")
    missing = [c for c in required if c not in source]
    if missing:
        return FileRejection(
            "schema_mismatch", f"required column missing: {', '.join(missing)}", table.num_rows
        )
    used = {source[name] for name in TEXT_COLUMNS if name in source} | {time_column}
    table, bad_encoding = _repair_text(table, used)
    rows = pa.array(range(first_row, first_row + table.num_rows), type=pa.int64())
    typed: dict[str, pa.ChunkedArray | pa.Array] = {}
    try:
        for name in TEXT_COLUMNS:
            if name in source:
                column = table.column(source[name])
                if not _is_text(column.type) and not pa.types.is_dictionary(column.type):
                    raise ValueError(f"column {source[name]} is {column.type}, not text")
                typed[name] = _cast_text(column)
        for name in INTEGER_COLUMNS:
            if name in source:
                typed[name] = _cast_integer(name, table.column(name))
        if "latency_ms" in source:
            latency = table.column("latency_ms")
            if not (pa.types.is_integer(latency.type) or pa.types.is_floating(latency.type)
                    or pa.types.is_decimal(latency.type) or pa.types.is_null(latency.type)):
                raise ValueError(f"column latency_ms is {latency.type}, not a number")
            typed["latency_ms"] = latency.cast(pa.float64())
        typed["occurred_at"] = _cast_timestamp(time_column, table.column(time_column))
    except (ValueError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        return FileRejection("schema_mismatch", str(exc).splitlines()[0], table.num_rows)
    n = table.num_rows
    for name in (*TEXT_COLUMNS, *INTEGER_COLUMNS):
        typed.setdefault(name, pa.nulls(n, pa.int64() if name in INTEGER_COLUMNS else pa.string()))
    typed.setdefault("latency_ms", pa.nulls(n, pa.float64()))
    typed[BAD_ENCODING_COLUMN] = bad_encoding if bad_encoding is not None else pa.nulls(
        n, pa.string()
    )
    typed[ROW_COLUMN] = rows
    return PreparedFile(
        shape=shape,
        raw=table.append_column(ROW_COLUMN, rows),
        typed=pa.table(typed),
    )


def normalize_sql(prepared: PreparedFile) -> str:
    """SQL over the registered Arrow table `typed_rows`: canonical rows with `day`,
    `id_hash`, `reason` and `detail`. Parameters: tz, future_limit, source_file, time_column.
    """
    is_text_time = pa.types.is_string(prepared.typed.schema.field("occurred_at").type)
    parts = dict(TEXT_TIME if is_text_time else TYPED_TIME)
    parts["latency_expr"] = DOWNCITY_LATENCY if prepared.shape == "downcity" else "latency_ms"
    parts["error_expr"] = DOWNCITY_ERROR if prepared.shape == "downcity" else "error"
    # Composed from the fixed fragments above, never from data: the time and Downcity
    # expressions differ by file shape, and sql/validate.sql stays one statement for all.
    sql = VALIDATE_SQL
    for key, value in parts.items():
        sql = sql.replace("{" + key + "}", value)
    return sql


def normalize_params(
    prepared: PreparedFile, *, source_file: str, timezone: str, future_limit: datetime
) -> dict[str, object]:
    return {
        "tz": timezone,
        "future_limit": future_limit.timestamp(),
        "source_file": source_file,
        "time_column": "created_at" if prepared.shape == "downcity" else "occurred_at",
    }


def raw_json_sql(prepared: PreparedFile) -> str:
    """SQL over the registered Arrow table `raw_rows`: each row as it landed, as JSON text."""
    fields = [c for c in prepared.raw.column_names if c != ROW_COLUMN]
    quoted = [c.replace('"', '""') for c in fields]
    packed = ", ".join(f'"{q}" := "{q}"' for q in quoted) or "empty := NULL"
    return (
        f"SELECT {ROW_COLUMN} AS source_row, to_json(struct_pack({packed}))::VARCHAR AS raw_json "
        "FROM raw_rows"
    )
