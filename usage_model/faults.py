"""Named crash points for the fault-injection tests (tests/faults/).

`CITY_USAGE_FAULT_POINT=<name>:<n>` makes the n-th call of `fault_point(<name>)` in this
process SIGKILL the process (a crash at a known moment, not a timing race);
`<name>:<n>:raise` raises `InjectedFault` there instead (a run that fails cleanly). Several
points, comma-separated (`a:3,b:1`), each count their own calls.
With `CITY_USAGE_FAULT_ONCE=<file>` each point fires only while that file does not name it,
and names it first (a line per point fired): once across processes (a Celery worker's
replacement process runs the requeued step again and must not crash the same way).
The variables are read once per process, at the first call (never at import).
"""

from __future__ import annotations

import fcntl
import os
import signal
from functools import cache
from typing import NamedTuple

from usage_model import config


class _Spec(NamedTuple):
    name: str
    at: int
    raise_: bool


@cache
def _spec() -> tuple[_Spec, ...]:
    """The armed points, in the order the variable lists them."""
    specs = []
    for item in (config.raw("CITY_USAGE_FAULT_POINT") or "").split(","):
        parts = item.strip().split(":")
        if parts[0]:
            specs.append(_Spec(parts[0], int(parts[1]) if len(parts) > 1 else 1,
                               len(parts) > 2 and parts[2] == "raise"))
    return tuple(specs)


_hits = [0]  # calls counted so far, one entry per armed point (grown on first use)


class InjectedFault(RuntimeError):
    """The failure a test asked for at a named point."""


def fault_point(name: str, subject: object = None) -> None:
    """Crash here when a test named this point (see the module docstring); else nothing.
    `subject` (e.g. the file being handled) is named in the raised error."""
    for number, spec in enumerate(_spec()):
        if name != spec.name:
            continue
        _hits.extend([0] * (number + 1 - len(_hits)))
        _hits[number] += 1
        if _hits[number] == spec.at and _first_firing(spec):
            _fire(spec, subject)


def _first_firing(spec: _Spec) -> bool:
    """Whether `spec` may fire: always, unless CITY_USAGE_FAULT_ONCE names a marker file,
    which then records each point that fired (under a lock: only one process fires it)."""
    once = config.raw("CITY_USAGE_FAULT_ONCE")
    if not once:
        return True
    with open(once, "a+") as marker:
        fcntl.flock(marker, fcntl.LOCK_EX)
        marker.seek(0)
        if any(line.split(" ", 1)[0] == spec.name for line in marker):
            return False
        marker.write(f"{spec.name} #{spec.at} in process {os.getpid()}\n")
    return True


def _fire(spec: _Spec, subject: object) -> None:
    if spec.raise_:
        about = f" ({subject})" if subject is not None else ""
        raise InjectedFault(f"injected fault at {spec.name} #{spec.at}{about}")
    os.kill(os.getpid(), signal.SIGKILL)
