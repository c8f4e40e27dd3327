"""Where curated events live: one folder per day, `<events root>/day=YYYY-MM-DD/part-0.parquet`
(the folder name is Hive-style, so DuckDB, polars and Spark read `day` from the path).
Every reader and writer of the curated layout asks this module, so the layout is spelled once.

The events root is a `storage.Location`: a local folder or an `s3://` prefix. Paths are the
filesystem's own strings (`Location.path`); files are listed and checked through its pyarrow
filesystem, and DuckDB gets a set of day files as one relation (`events_relation`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

import duckdb
import pyarrow.fs as pafs

from usage_model.storage import TEMPORARY_PREFIX, Location, parquet_relation, register_parquet
from usage_model.usage.event_model import CURATED_SCHEMA

PREFIX = "day="
DAY_FILE = "part-0.parquet"


def day_folder(events: Location, day: date) -> str:
    return events.path(f"{PREFIX}{day.isoformat()}")


def day_path(events: Location, day: date) -> str:
    """The one curated file of `day` (it may not exist: a day with no accepted event)."""
    return events.path(f"{PREFIX}{day.isoformat()}", DAY_FILE)


def day_of_folder(name: str) -> date | None:
    """The day a folder name stands for; None for any other name."""
    if not name.startswith(PREFIX):
        return None
    try:
        return date.fromisoformat(name[len(PREFIX):])
    except ValueError:
        return None


def day_files(
    events: Location, first: date | None = None, last: date | None = None
) -> list[tuple[date, str]]:
    """The existing day files with first <= day <= last (open ends: no bound), by day.
    One listing of the root (on S3 a paginated LIST, not a request per day)."""
    selector = pafs.FileSelector(events.root, recursive=True, allow_not_found=True)
    found = []
    for info in events.fs.get_file_info(selector):
        folder, _, name = info.path.rpartition("/")
        day = day_of_folder(folder.rpartition("/")[2])
        if name != DAY_FILE or day is None or info.type != pafs.FileType.File:
            continue
        if (first is None or day >= first) and (last is None or day <= last):
            found.append((day, info.path))
    return sorted(found)


def existing_day_files(events: Location, days: Iterable[date]) -> list[str]:
    """The files of those of `days` that have one, by day (one stat per day: for a few days,
    where a listing of the whole root would cost more)."""
    paths = [day_path(events, d) for d in sorted(set(days))]
    if not paths:
        return []
    infos = events.fs.get_file_info(paths)
    return [info.path for info in infos if info.type == pafs.FileType.File]


def events_relation(
    conn: duckdb.DuckDBPyConnection, events: Location, files: Sequence[str]
) -> duckdb.DuckDBPyRelation:
    """The curated events of `files` (paths from `day_files`/`existing_day_files`) as a DuckDB
    relation with the curated columns. Local files are read by DuckDB's own Parquet reader;
    remote ones through a pyarrow dataset on the Location's filesystem (DuckDB here has no
    httpfs), which DuckDB scans with projection and filter pushdown. No file: no rows."""
    return parquet_relation(conn, events, list(files), CURATED_SCHEMA)


def register_events(
    conn: duckdb.DuckDBPyConnection, events: Location, files: Sequence[str], name: str
) -> int:
    """A session-only view `name` over `events_relation(...)`; returns how many files it reads.
    (`register`, not `relation.create_view`: that would store a view in the warehouse file.)"""
    register_parquet(conn, name, events, list(files), CURATED_SCHEMA)
    return len(files)


def remove_temporaries(events: Location) -> int:
    """Delete the hidden temporaries (`.tmp-…`, storage.Location.write_atomic) a writer killed
    between its upload and the copy into place left in day folders; returns how many. Only
    the build holding the warehouse's write lock may call this (it is the one writer)."""
    selector = pafs.FileSelector(events.root, recursive=True, allow_not_found=True)
    leftovers = [info.path for info in events.fs.get_file_info(selector)
                 if info.type == pafs.FileType.File
                 and info.path.rpartition("/")[2].startswith(TEMPORARY_PREFIX)]
    for path in leftovers:
        events.fs.delete_file(path)
    return len(leftovers)


def remove_day(events: Location, day: date) -> None:
    """Delete a day's folder (a day left with no accepted event)."""
    events.remove_folder(day_folder(events, day))
