"""How every command reads `--from` and `--to`, stated in each `--help`
(docs/event-model.md rule 12).

Two conventions, each fixed by the contract in docs/event-model.md:
- `materialize` builds whole days: `--from` and `--to` are partition keys, both included.
- Read commands (`summary`, `me`, `events`, `report`) take half-open ranges `[--from, --to)`:
  a date is midnight in CITY_USAGE_TIMEZONE, so `--from 2026-11-01 --to 2026-12-01` is
  November; `events` also takes ISO-8601 instants (no offset = UTC).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import date, timedelta

from pipelines.cli.errors import BAD_INPUT, fail, parse_day

BUILD_RANGE_NOTE = (
    "--from and --to are days in CITY_USAGE_TIMEZONE, both included "
    "(--from 2026-11-01 --to 2026-11-30 builds November)."
)
READ_RANGE_NOTE = (
    "The range is half-open, [--from, --to): a date means midnight in CITY_USAGE_TIMEZONE, "
    "so --from 2026-11-01 --to 2026-12-01 is November."
)
INSTANT_NOTE = "--from and --to also take ISO-8601 instants (no offset = UTC)."
BUILD_FROM_HELP = "first day, included (YYYY-MM-DD)"
BUILD_TO_HELP = "last day, included (YYYY-MM-DD)"
READ_FROM_HELP = "first day, included (YYYY-MM-DD)"
READ_TO_HELP = "end day, left out (YYYY-MM-DD)"
READ_FROM_INSTANT_HELP = "first day or instant, included"
READ_TO_INSTANT_HELP = "end day or instant, left out"


def parse_build_days(start: str | None, end: str | None) -> tuple[date | None, date | None]:
    """`materialize`'s `--from`/`--to`: days, both included; a reversed range is bad input."""
    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    if first and last and first > last:
        fail(f"--from {first} is after --to {last}", BAD_INPUT)
    return first, last


def parse_read_days(start: str | None, end: str | None) -> tuple[date | None, date | None]:
    """A read's `[--from, --to)` in days, returned as the first and the last day included."""
    first, stop = parse_day(start, "--from"), parse_day(end, "--to")
    if first and stop and first >= stop:
        fail(f"--from {first} is not before --to {stop} (the range [--from, --to) is empty)",
             BAD_INPUT)
    return first, (stop - timedelta(days=1)) if stop else None


def command_help(command: Callable[..., None], *notes: str) -> str:
    """A command's docstring followed by the range notes, for `--help`."""
    return "\n\n".join([inspect.cleandoc(command.__doc__ or ""), *notes])
