"""One-line failures for CLI commands (DESIGN rule 13)."""

from __future__ import annotations

import sys
from datetime import date
from typing import NoReturn

import typer

BAD_INPUT = 2
RUNTIME_FAILURE = 1


def fail(message: str, code: int = RUNTIME_FAILURE) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    sys.exit(code)


def parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not a date (expected YYYY-MM-DD)", BAD_INPUT)
