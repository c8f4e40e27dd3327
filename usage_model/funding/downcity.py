"""Downcity exports landed as Parquet under `landing/balance/<folder>/**.parquet` (a local
folder or an `s3://` prefix: read through pyarrow's filesystem layer, see storage.py).

Five exports of `@downcity/services` tables are read, each into its `downcity_<name>` table:

| folder     | Downcity table             | key          |
|------------|----------------------------|--------------|
| `topups`   | `service_balance_topups`   | `topup_id`   |
| `payments` | `service_payment_payments` | `payment_id` |
| `ledger`   | `service_balance_ledger`   | `entry_id`   |
| `accounts` | `service_balance_accounts` | `user_id`    |
| `charges`  | `service_balance_charges`  | `charge_id`  |

Both the current shape (0.1.211: every column NOT NULL, TEXT except the INTEGER ones, ''
for none, `YYYY-MM-DDTHH:MM:SS.sssZ` times) and older ones (`amount`/`unit` before the
mid-2026 rename to `credits`, `balance_after` for `credits_after`, `id` for `payment_id`,
typed Parquet timestamps, `cancelled` for `canceled`) are accepted; see `ALIASES`.
Extra columns (`town_id`, `city_id`, ...) are ignored.

Files are read one by one so a bad file is rejected with its reason while the others load.
The latest row per key wins (by `updated_at`, else `created_at`, then file path, then row).

Rejections (one `downcity_rejects` row each, naming file, row, key and reason; never dropped):
whole file: `unreadable_file` (not Parquet, truncated, empty), `schema_mismatch` (a required
column is absent); row: `missing_<key>` (`missing_topup_id`, `missing_payment_id`,
`missing_entry_id`, `missing_charge_id`, and `missing_user_id` for every table keyed by
user), `bad_<integer column>` (null where required, not an integer, fractional),
`non_positive_credits` (topups, payments, charges), `bad_unit` (not credits), `bad_status`
(topups and payments), `bad_kind` (ledger), `bad_timestamp` (a time that is not ISO-8601).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from usage_model import clock
from usage_model.funding.ledger import replace_if_columns_differ
from usage_model.sql import run_sql
from usage_model.storage import Location, location
from usage_model.warehouse import ensure_schema, transaction

# Downcity's statuses plus the synonyms older exports used (compared case-insensitively).
TOPUP_STATUSES = frozenset({
    "pending", "paid", "canceled", "succeeded", "success", "complete", "completed",
    "credited", "failed", "expired", "refunded",
})
PAYMENT_STATUSES = frozenset({"pending", "paid", "expired", "canceled", "failed", "succeeded",
                              "complete", "completed", "refunded"})
LEDGER_KINDS = frozenset({"init", "add", "sub", "topup", "redeem", "charge"})
PAID_STATUSES = frozenset({"paid", "succeeded", "success", "complete", "completed", "credited"})
# One spelling per state: Downcity writes `canceled`; older exports and Stripe-era code wrote
# `cancelled`.
STATUS_SYNONYMS = {"cancelled": "canceled"}
_ISO_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}(:?\d{2})?)?")


@dataclass(frozen=True)
class Export:
    """How one Downcity export lands: its folder, key, columns and per-row checks."""

    folder: str
    key: str
    columns: tuple[str, ...]            # canonical columns stored (besides source_*)
    required: tuple[str, ...]           # canonical columns every file must have
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # canonical -> older
    integers: Mapping[str, str] = field(default_factory=dict)  # column -> required|optional
    positive: tuple[str, ...] = ()
    times: tuple[str, ...] = ("created_at",)
    statuses: frozenset[str] | None = None
    kinds: frozenset[str] | None = None
    has_unit: bool = False

    @property
    def table(self) -> str:
        return f"downcity_{self.folder}"

    def source_column(self, canonical: str, present: set[str]) -> str | None:
        for name in (canonical, *self.aliases.get(canonical, ())):
            if name in present:
                return name
        return None


INTEGER_COLUMNS = frozenset({"credits", "amount_minor", "credits_delta", "credits_after"})
# Downcity's current export columns (0.1.211), in table order: every column NOT NULL, the
# INTEGER_COLUMNS INTEGER, the rest TEXT. (checkout_url is exported but not kept.)
CURRENT_COLUMNS = {
    "topups": ("topup_id", "user_id", "credits", "status", "note", "ref", "metadata_json",
               "created_at", "updated_at"),
    "payments": ("payment_id", "provider", "topup_id", "user_id", "provider_session_id",
                 "provider_payment_id", "provider_order_id", "credits", "amount_minor",
                 "currency", "status", "checkout_url", "metadata_json", "created_at",
                 "updated_at"),
    "ledger": ("entry_id", "user_id", "kind", "credits_delta", "credits_after", "note", "ref",
               "metadata_json", "created_at"),
    "accounts": ("user_id", "credits", "created_at", "updated_at"),
    "charges": ("charge_id", "user_id", "credits", "status", "note", "ref", "metadata_json",
                "created_at"),
}
EXPORTS = {e.folder: e for e in (
    Export("topups", "topup_id", CURRENT_COLUMNS["topups"],
           required=("topup_id", "user_id", "credits", "status"),
           aliases={"credits": ("amount",)}, integers={"credits": "required"},
           positive=("credits",), times=("created_at", "updated_at"),
           statuses=TOPUP_STATUSES, has_unit=True),
    Export("payments", "payment_id",
           tuple(c for c in CURRENT_COLUMNS["payments"] if c != "checkout_url"),
           required=("payment_id",),
           aliases={"payment_id": ("id",), "amount_minor": ("amount",)},
           integers={"credits": "optional", "amount_minor": "optional"},
           positive=("credits",), times=("created_at", "updated_at"),
           statuses=PAYMENT_STATUSES),
    Export("ledger", "entry_id", CURRENT_COLUMNS["ledger"],
           required=("entry_id", "user_id", "kind", "credits_delta"),
           aliases={"credits_delta": ("amount",), "credits_after": ("balance_after",)},
           integers={"credits_delta": "required", "credits_after": "optional"},
           kinds=LEDGER_KINDS, has_unit=True),
    Export("accounts", "user_id", CURRENT_COLUMNS["accounts"],
           required=("user_id", "credits"), aliases={"credits": ("balance", "amount")},
           integers={"credits": "required"}, times=("created_at", "updated_at"),
           has_unit=True),
    Export("charges", "charge_id", CURRENT_COLUMNS["charges"],
           required=("charge_id", "user_id", "credits"), aliases={"credits": ("amount",)},
           integers={"credits": "required"}, positive=("credits",), has_unit=True),
)}
_TIME_COLUMNS = {"created_at", "updated_at"}


@dataclass(frozen=True)
class LoadResult:
    files: int
    rows: int
    loaded: int
    rejected: int


class RowRejected(ValueError):
    """A landed row that cannot be used: `reason` plus a one-line detail."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _files(root: Location, folder: str) -> list[str]:
    """The export's Parquet files, as paths relative to the balance root, in path order
    (hidden and `_`-prefixed names skipped: temporaries and markers)."""
    try:
        found = root.fs.get_file_info(pafs.FileSelector(root.path(folder), recursive=True))
    except FileNotFoundError:
        return []
    prefix = root.root.rstrip("/") + "/"
    return sorted(info.path.removeprefix(prefix) for info in found
                  if info.type == pafs.FileType.File and info.path.endswith(".parquet")
                  and not info.base_name.startswith(("_", ".")))


def _as_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal) and value == value and value % 1 == 0:
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValueError(f"not an integer: {value!r}")


def _text(value: object) -> str | None:
    """Text as stored: '' (Downcity's "none") stays ''; typed times become ISO text."""
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime | date) else str(value)


def parse_instant(value: object) -> datetime | None:
    """A Downcity time: `YYYY-MM-DDTHH:MM:SS.sssZ` text (any ISO-8601 instant; no offset =
    UTC) or a typed timestamp (naive = UTC). None or '' is no time; anything else raises."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and _ISO_INSTANT.fullmatch(value.strip()):
        moment = datetime.fromisoformat(value.strip().upper().replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise ValueError(f"{value!r} is not an ISO-8601 time")


def normal_status(value: object) -> str | None:
    text = _text(value)
    if text is None:
        return None
    key = text.strip().lower()
    return STATUS_SYNONYMS.get(key, key)


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()


def metadata(text: str | None) -> dict[str, Any]:
    """Downcity's metadata_json as a dict with snake_case keys (older exports wrote camelCase);
    '' or text that is not a JSON object is an empty dict (the text is kept verbatim anyway)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return {_snake(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def _check_row(spec: Export, record: dict[str, Any], unit: object) -> dict[str, Any]:
    """The record with integers, times and statuses normalized, or RowRejected."""
    key = record[spec.key]
    if key is None or str(key).strip() == "":
        raise RowRejected(f"missing_{spec.key}", f"no {spec.key}")
    named = f"{spec.key} {key}"
    if spec.key != "user_id" and "user_id" in spec.required and not record.get("user_id"):
        raise RowRejected("missing_user_id", f"{named}: no user_id (wallets are keyed by user)")
    out = dict(record)
    for column, need in spec.integers.items():
        try:
            out[column] = _as_int(record.get(column))
        except ValueError as exc:
            raise RowRejected(f"bad_{column}", f"{named}: {column} {exc}") from None
        if out[column] is None and need == "required":
            raise RowRejected(f"bad_{column}", f"{named}: {column} is null")
        if column in spec.positive and out[column] is not None and out[column] <= 0:
            raise RowRejected(f"non_positive_{column}",
                              f"{named}: {column} {out[column]} is not a positive credit count")
    unit_text = _text(unit)
    if spec.has_unit and unit_text not in (None, "", "credits"):
        raise RowRejected("bad_unit", f"{named}: unit {unit_text!r}: expected 'credits'")
    if spec.statuses is not None and ("status" in spec.required or record.get("status")):
        status = normal_status(record.get("status"))
        if status is None or status not in spec.statuses:
            raise RowRejected("bad_status", f"{named}: status {_text(record.get('status'))!r}: "
                              f"expected one of {', '.join(sorted(spec.statuses))}")
        out["status"] = status
    if spec.kinds is not None:
        kind = (_text(record.get("kind")) or "").strip().lower()
        if kind not in spec.kinds:
            raise RowRejected("bad_kind", f"{named}: kind {_text(record.get('kind'))!r}: "
                              f"expected one of {', '.join(sorted(spec.kinds))}")
        out["kind"] = kind
    for column in spec.times:
        try:
            out[column] = parse_instant(record.get(column))
        except ValueError as exc:
            raise RowRejected("bad_timestamp", f"{named}: {column} {exc}") from None
    for column in spec.columns:
        if column not in INTEGER_COLUMNS and column not in _TIME_COLUMNS \
                and column not in ("status", "kind"):
            out[column] = _text(out.get(column))
    return out


def _read_rows(conn: duckdb.DuckDBPyConnection, root: Location,
               rel: str) -> tuple[list[str], list[tuple]]:
    """A landed file's columns and rows: read by pyarrow from its filesystem (a local folder
    or S3), then through DuckDB, so values come out as for any warehouse query."""
    with root.fs.open_input_file(root.path(rel)) as handle:
        table = pq.read_table(handle)
    # A cursor of its own: a file DuckDB cannot read must not abort the load's transaction.
    reader = conn.cursor()
    try:
        reader.register("landed_file", table)
        cur = run_sql(reader, __file__, "read_landed_file")
        columns = [d[0] for d in cur.description]
        return columns, cur.fetchall()
    finally:
        reader.close()


# pyarrow cannot open or decode the file (ArrowInvalid is a ValueError, an I/O failure an
# OSError); DuckDB cannot convert it; Python cannot hold a value (year 10000 and such).
_UNREADABLE = (duckdb.Error, ValueError, OSError, OverflowError)


class _Rejects:
    def __init__(self, conn: duckdb.DuckDBPyConnection, now: datetime) -> None:
        self.conn, self.now = conn, now

    def add(self, rel: str, row: int | None, reason: str, detail: str, raw: object) -> None:
        run_sql(self.conn, __file__, "insert_reject", source_file=rel, source_row=row,
                reason=reason, detail=detail,
                raw_json=json.dumps(raw, default=str) if raw is not None else None,
                rejected_at=self.now)

    def unreadable(self, rel: str, exc: Exception) -> None:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self.add(rel, None, "unreadable_file", f"{rel}: not a readable Parquet file ({reason})",
                 None)


_NO_TIME = datetime.min.replace(tzinfo=UTC)


def _version(record: Mapping[str, Any]) -> datetime:
    return record.get("updated_at") or record.get("created_at") or _NO_TIME


def _load_export(conn: duckdb.DuckDBPyConnection, spec: Export, root: Location,
                 rejects: _Rejects) -> LoadResult:
    files = _files(root, spec.folder)
    best: dict[str, tuple[tuple, dict[str, Any]]] = {}
    rows_total = rejected = 0
    for rel in files:
        try:
            names, rows = _read_rows(conn, root, rel)
        except _UNREADABLE as exc:
            rejects.unreadable(rel, exc)
            rejected += 1
            continue
        present = set(names)
        sources = {c: spec.source_column(c, present) for c in spec.columns}
        missing = [c if not spec.aliases.get(c) else f"{c} (or {' or '.join(spec.aliases[c])})"
                   for c in spec.required if sources[c] is None]
        if missing:
            rejects.add(rel, None, "schema_mismatch",
                        f"{rel}: missing column(s) {', '.join(missing)} ({len(rows)} rows)", None)
            rejected += 1
            continue
        positions = [(c, names.index(s) if s else None) for c, s in sources.items()]
        unit_at = names.index("unit") if "unit" in present else None
        for index, values in enumerate(rows):
            rows_total += 1
            record = {c: values[i] if i is not None else None for c, i in positions}
            try:
                record = _check_row(spec, record,
                                    values[unit_at] if unit_at is not None else None)
            except RowRejected as exc:
                raw = dict(zip(names, values, strict=True))
                rejects.add(rel, index, exc.reason, f"{rel} row {index}: {exc}", raw)
                rejected += 1
                continue
            key = str(record[spec.key])
            rank = (_version(record), rel, index)
            if key not in best or rank >= best[key][0]:
                best[key] = (rank, {**record, "source_file": rel, "source_row": index})
    _insert(conn, spec, [r for _, r in best.values()])
    return LoadResult(len(files), rows_total, len(best), rejected)


def _insert(conn: duckdb.DuckDBPyConnection, spec: Export, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = [*spec.columns, "source_file", "source_row"]
    types = {c: pa.int64() for c in (*INTEGER_COLUMNS, "source_row")}
    types |= {c: pa.timestamp("us", tz="UTC") for c in _TIME_COLUMNS}
    schema = pa.schema([(c, types.get(c, pa.string())) for c in columns])
    table = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows], schema=schema)
    conn.register("_downcity_rows", table)
    try:
        run_sql(conn, __file__, "insert_by_name",
                idents={"table": spec.table, "rows": "_downcity_rows"})
    finally:
        conn.unregister("_downcity_rows")


def _refresh_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """The downcity_* tables are mirrors of the landing folder, rebuilt on every load; a
    warehouse made by an older version (other columns) gets them recreated."""
    for spec in EXPORTS.values():
        replace_if_columns_differ(conn, spec.table, [*spec.columns, "source_file", "source_row"])
    ensure_schema(conn)
    for table in [*(spec.table for spec in EXPORTS.values()), "downcity_rejects"]:
        run_sql(conn, __file__, "delete_all", idents={"table": table})


def load(conn: duckdb.DuckDBPyConnection, balance_root: Location | Path,
         now: datetime | None = None) -> dict[str, LoadResult]:
    """Refresh every `downcity_<export>` table and `downcity_rejects` from the files landed
    under `balance_root` (Settings.balance_landing_location(), or a local folder)."""
    root = location(balance_root)
    rejects = _Rejects(conn, now or clock.now())
    with transaction(conn):
        _refresh_tables(conn)
        return {name: _load_export(conn, spec, root, rejects)
                for name, spec in EXPORTS.items()}
