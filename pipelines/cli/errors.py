"""One-line failures for CLI commands (docs/event-model.md rule 13).

Every line the CLI prints about a failure or a problem file goes through `one_line`: landed
file names may hold any character, so control characters are escaped (a file named
`evil\\nerror: x.parquet` cannot forge a second line) and paths are shown relative to the
landing root (no absolute paths of the operator's machine in messages).
"""

from __future__ import annotations

import sys
import unicodedata
from datetime import date
from pathlib import Path
from typing import NoReturn

import typer

BAD_INPUT = 2
RUNTIME_FAILURE = 1
# Characters that end a line or move the cursor: C0/C1 controls and Unicode line separators.
_LINE_BREAKING = {"Cc", "Zl", "Zp"}


def escape_controls(text: str) -> str:
    """`\\n`, `\\x1b`, `\\u2028`... instead of the characters themselves."""
    return "".join(
        repr(ch)[1:-1] if unicodedata.category(ch) in _LINE_BREAKING else ch for ch in text
    )


def _landing_root() -> Path | None:
    from usage_model.config import Settings

    try:
        return Settings.from_env().usage_landing
    except Exception:  # a broken configuration must not hide the error being reported
        return None


def one_line(text: str, landing_root: Path | None = None) -> str:
    """The first line of `text`, with landed file names escaped and made relative.

    A landed name holding a line break is escaped before the text is cut at its first line,
    so the cut never falls inside a file name.
    """
    from usage_model.usage.landing import list_landed_files

    root = landing_root if landing_root is not None else _landing_root()
    if root is not None:
        for landed in list_landed_files(root):
            if escape_controls(landed.path) != landed.path:
                text = text.replace(landed.path, escape_controls(landed.path))
        for prefix in {f"{root.as_posix()}/", f"{root.resolve().as_posix()}/"}:
            text = text.replace(prefix, "")
    lines = text.strip().splitlines()
    return escape_controls(lines[0] if lines else "")


def fail(message: str, code: int = RUNTIME_FAILURE) -> NoReturn:
    typer.echo(f"error: {one_line(message)}", err=True)
    sys.exit(code)


def parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not a date (expected YYYY-MM-DD)", BAD_INPUT)
