"""One convention for ranges across commands, stated in every `--help`.

`--from` and `--to` name days in CITY_USAGE_TIMEZONE and both days are included:
`--from 2026-11-01 --to 2026-11-30` is November. Read commands also take ISO-8601 instants
(no offset = UTC); an instant given to `--to` is the first instant left out.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import date, timedelta

from pipelines.cli.errors import BAD_INPUT, fail, parse_day

RANGE_NOTE = (
    "--from and --to are days in CITY_USAGE_TIMEZONE, both included "
    "(--from 2026-11-01 --to 2026-11-30 is November)."
)
INSTANT_NOTE = (
    "They also take ISO-8601 instants (no offset = UTC); an instant given to --to is the "
    "first instant left out."
)
FROM_HELP = "first day, included (YYYY-MM-DD)"
TO_HELP = "last day, included (YYYY-MM-DD)"
FROM_INSTANT_HELP = "first day (or instant), included"
TO_INSTANT_HELP = "last day, included (or an instant, left out)"


def parse_days(start: str | None, end: str | None) -> tuple[date | None, date | None]:
    """`--from`/`--to` as days, both included; a reversed range is bad input."""
    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    if first and last and first > last:
        fail(f"--from {first} is after --to {last}", BAD_INPUT)
    return first, last


def exclusive_end(end: str | None) -> str | None:
    """The read API's exclusive bound for `--to`: the day after a day, an instant as given."""
    if end is None:
        return None
    try:
        return (date.fromisoformat(end) + timedelta(days=1)).isoformat()
    except ValueError:
        return end  # an instant (or bad input, which the read API names)


def command_help(command: Callable[..., None], *notes: str) -> str:
    """A command's docstring followed by the range notes, for `--help`."""
    return "\n\n".join([inspect.cleandoc(command.__doc__ or ""), *notes])
