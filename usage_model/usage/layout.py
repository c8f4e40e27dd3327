"""Where curated events live: one folder per day, `<events root>/day=YYYY-MM-DD/part-0.parquet`
(the folder name is Hive-style, so DuckDB, polars and Spark read `day` from the path).
Every reader and writer of the curated layout asks this module, so the layout is spelled once.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

PREFIX = "day="
DAY_FILE = "part-0.parquet"


def day_folder(events_root: Path, day: date) -> Path:
    return events_root / f"{PREFIX}{day.isoformat()}"


def day_path(events_root: Path, day: date) -> Path:
    """The one curated file of `day` (it may not exist: a day with no accepted event)."""
    return day_folder(events_root, day) / DAY_FILE


def day_glob(events_root: Path) -> str:
    """A glob matching every day's file (for `read_parquet`)."""
    return str(events_root / f"{PREFIX}*" / DAY_FILE)


def day_of_folder(name: str) -> date | None:
    """The day a folder name stands for; None for any other name."""
    if not name.startswith(PREFIX):
        return None
    try:
        return date.fromisoformat(name[len(PREFIX):])
    except ValueError:
        return None


def day_files(
    events_root: Path, first: date | None = None, last: date | None = None
) -> list[tuple[date, Path]]:
    """The existing day files with first <= day <= last (open ends: no bound), by day."""
    if not events_root.is_dir():
        return []
    found = []
    for folder in events_root.iterdir():
        day = day_of_folder(folder.name)
        if day is None or (first is not None and day < first):
            continue
        part = folder / DAY_FILE
        if (last is None or day <= last) and part.is_file():
            found.append((day, part))
    return sorted(found)
