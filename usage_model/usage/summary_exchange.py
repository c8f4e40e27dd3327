"""The daily summaries' per-day computation as steps of their own, possibly on other machines
(distributed mode): plan the days, compute each day's rows away from the warehouse, store
them where every worker reaches them, and hand them to the warehouse's commit.

- `plan_days` (needs the warehouse: it reads each day's build generation from
  `usage_day_loads`) splits the days into `steps` shares of `DayTask`s (plain values).
- `compute_days` (no warehouse) computes each day of a share in its own in-memory DuckDB with
  the same SQL as the warehouse (`summaries.summarize_day`), and stores, under
  `<exchange>/<run id>/summaries/<day>/`, one Parquet file per daily table and, last,
  `identity.json`: the day's build generation from the plan and the size and modification
  time of the curated file it read. Written atomically (`storage.Location`) and keyed by run
  and day, so a step delivered again after its worker died rewrites the same objects.
- `StoredDays` gives `summaries.build_daily` a day's stored rows only when they were computed
  from the curated file the day has now: same build generation in the warehouse and same
  file size and time. A day rebuilt since (another run in between), or whose stored result is
  missing, unreadable or not shaped like the table, gets None and is computed in the commit
  step itself, so no committed day is stale or lost.

JSON and Parquet only, never pickle: whoever can write the bucket must not run code on the
warehouse host.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pydantic import ConfigDict, TypeAdapter, ValidationError

from usage_model.config import Settings
from usage_model.sql import run_sql
from usage_model.storage import Location
from usage_model.usage import layout, summaries
from usage_model.usage.file_reads import exchange_location
from usage_model.usage.intents import DAILY_TABLES
from usage_model.usage.stored_scan import first_problem
from usage_model.warehouse import ensure_schema, scratch_connection

log = logging.getLogger(__name__)

FOLDER = "summaries"
# Stored values validate strictly: numbers as written, dates as ISO strings, no unknown key.
_STRICT = ConfigDict(strict=True, extra="forbid")
IDENTITY_NAME = "identity.json"


@dataclass(frozen=True)
class DayTask:
    """A day to summarize and its build generation when planned (`usage_day_loads.built_at`
    in epoch microseconds; None: never built)."""

    __pydantic_config__ = _STRICT

    day: date
    built_us: int | None


@dataclass(frozen=True)
class DayIdentity:
    """What a stored day was computed from: the plan's build generation and the curated
    file's size and modification time (None, None: the day had no file)."""

    __pydantic_config__ = _STRICT

    day: date
    built_us: int | None
    size: int | None
    mtime_ns: int | None


DAY_TASKS = TypeAdapter(list[DayTask])
_IDENTITY = TypeAdapter(DayIdentity)


def _built(conn: duckdb.DuckDBPyConnection, days: list[date]) -> dict[date, int]:
    rows = run_sql(conn, __file__, "summary_day_generations", days=days).fetchall()
    return dict(rows)


def plan_days(conn: duckdb.DuckDBPyConnection, days: Iterable[date],
              steps: int) -> list[list[DayTask]]:
    """`days` as at most `steps` non-empty shares (every `steps`-th day: days are of similar
    size); none with `steps` 0 (the commit step computes every day itself)."""
    days = sorted(set(days))
    if steps < 1 or not days:
        return []
    built = _built(conn, days)
    tasks = [DayTask(day, built.get(day)) for day in days]
    return [tasks[i::steps] for i in range(min(steps, len(tasks)))]


def _day_folder(where: Location, run_id: str, day: date) -> str:
    return where.path(run_id, FOLDER, day.isoformat())


def _file_identity(events: Location, day: date) -> tuple[int | None, int | None]:
    info = events.fs.get_file_info(layout.day_path(events, day))
    if info.type != pafs.FileType.File:
        return None, None
    return info.size, info.mtime_ns


def compute_days(settings: Settings, tasks: list[DayTask], run_id: str) -> list[DayTask]:
    """Compute and store every day of `tasks`; returns those stored. A day whose computation
    or storage fails is left out (the commit step computes it and logs nothing else)."""
    stored = []
    for task in tasks:
        try:
            _compute_and_store(settings, task, run_id)
        except Exception as exc:  # the commit step computes the day itself
            log.warning("summaries of %s: computing in the step failed (%s); the commit step "
                        "computes the day", task.day, " ".join(str(exc).split()))
            continue
        stored.append(task)
    return stored


def _compute_and_store(settings: Settings, task: DayTask, run_id: str) -> None:
    # The file's identity is taken before it is read: a file replaced in between then fails
    # the commit's comparison, and the day is computed again (never a stale day).
    size, mtime_ns = _file_identity(settings.events_location(), task.day)
    where = exchange_location(settings)
    folder = _day_folder(where, run_id, task.day)
    with scratch_connection(settings.duckdb_memory_limit) as conn:
        conn.execute("SET TimeZone = 'UTC'")  # as the warehouse connections
        ensure_schema(conn)  # the summary tables, empty, in memory
        summaries.summarize_day(conn, settings, task.day, DAILY_TABLES)
        for table in DAILY_TABLES:
            rows = conn.table(table).to_arrow_table()
            where.write_atomic(f"{folder}/{table}.parquet",
                               lambda fs, target, rows=rows: pq.write_table(
                                   rows, target, filesystem=fs))
    identity = DayIdentity(task.day, task.built_us, size, mtime_ns)
    where.write_bytes(f"{folder}/{IDENTITY_NAME}", _IDENTITY.dump_json(identity))


class StoredDays:
    """For `summaries.build_daily`'s `stored`: a day's stored rows per daily table, or None
    (the day is then computed by the caller). `unusable` lists the days a compute step
    reported stored whose result could not be used, with why, for the step's metadata."""

    def __init__(self, settings: Settings, run_id: str, stored: Iterable[DayTask]):
        self._where = exchange_location(settings)
        self._events = settings.events_location()
        self._run_id = run_id
        self._days = {task.day for task in stored}
        self._schemas: dict[str, pa.Schema] = {}
        self.unusable: list[str] = []
        self.used = 0

    def __call__(self, conn: duckdb.DuckDBPyConnection, day: date) -> Mapping[str, pa.Table] | None:
        if day not in self._days:
            return None
        try:
            rows = self._load(conn, day)
        except _Unusable as exc:
            log.warning("summaries of %s: %s; computed in the commit step", day, exc)
            self.unusable.append(f"{day}: {exc}")
            return None
        self.used += 1
        return rows

    def _load(self, conn: duckdb.DuckDBPyConnection, day: date) -> dict[str, pa.Table]:
        folder = _day_folder(self._where, self._run_id, day)
        identity = _read_identity(self._where, f"{folder}/{IDENTITY_NAME}")
        size, mtime_ns = _file_identity(self._events, day)
        now = DayIdentity(day, _built(conn, [day]).get(day), size, mtime_ns)
        if identity != now:
            raise _Unusable("its curated file was rebuilt after it was computed")
        if not self._schemas:  # the warehouse tables' columns, asked once (not thread-safe)
            self._schemas = {table: conn.table(table).limit(0).to_arrow_table().schema
                             for table in DAILY_TABLES}
        # The day's tables fetched at once: on S3 each is a request's round trip.
        with ThreadPoolExecutor(len(DAILY_TABLES)) as pool:
            rows = pool.map(lambda table: _read_rows(
                self._where, f"{folder}/{table}.parquet", table, self._schemas[table]),
                DAILY_TABLES)
            return dict(zip(DAILY_TABLES, rows, strict=True))


class _Unusable(ValueError):
    """A stored day that cannot be used (one line naming the object and what is wrong)."""


def _read_identity(where: Location, path: str) -> DayIdentity:
    try:
        text = where.read_bytes(path)
    except OSError as exc:
        raise _Unusable(f"{path}: missing ({' '.join(str(exc).split())})") from None
    try:
        return _IDENTITY.validate_json(text)
    except ValidationError as exc:
        raise _Unusable(f"{path}: {first_problem(exc)}") from None


def _read_rows(where: Location, path: str, table: str, expected: pa.Schema) -> pa.Table:
    """The stored rows, checked to carry exactly the warehouse table's columns and types (an
    insert that failed would abort the commit's transaction). One GET of the whole object
    (the files are small) instead of a Parquet reader's ranged requests."""
    try:
        rows = pq.read_table(pa.BufferReader(where.read_bytes(path)))
    except (OSError, pa.ArrowInvalid) as exc:
        raise _Unusable(f"{path}: not readable ({' '.join(str(exc).split())})") from None
    got = [(f.name, f.type) for f in rows.schema]
    if got != [(f.name, f.type) for f in expected]:
        raise _Unusable(f"{path}: columns {got} are not those of {table}")
    return rows


def remove_stored(settings: Settings, run_id: str) -> None:
    """Delete the days a run's compute steps stored (once its commit step used them)."""
    where = exchange_location(settings)
    where.remove_folder(where.path(run_id, FOLDER))
