"""Named crash points for the fault-injection tests (tests/faults/).

`CITY_USAGE_FAULT_POINT=<name>:<n>` makes the n-th call of `fault_point(<name>)` in this
process SIGKILL the process (a crash at a known moment, not a timing race);
`<name>:<n>:raise` raises `InjectedFault` there instead (a run that fails cleanly).
With `CITY_USAGE_FAULT_ONCE=<file>` the fault fires only while that file does not exist and
creates it first: once across processes (a Celery worker's replacement process runs the
requeued step again and must not crash the same way).
The variables are read once per process, at the first call (never at import).
"""

from __future__ import annotations

import os
import signal
from functools import cache
from typing import NamedTuple

from usage_model import config


class _Spec(NamedTuple):
    name: str | None
    at: int
    raise_: bool


@cache
def _spec() -> _Spec:
    parts = (config.raw("CITY_USAGE_FAULT_POINT") or "").split(":")
    return _Spec(parts[0] or None, int(parts[1]) if len(parts) > 1 else 1,
                 len(parts) > 2 and parts[2] == "raise")


_hits = [0]


class InjectedFault(RuntimeError):
    """The failure a test asked for at a named point."""


def fault_point(name: str, subject: object = None) -> None:
    """Crash here when a test named this point (see the module docstring); else nothing.
    `subject` (e.g. the file being handled) is named in the raised error."""
    spec = _spec()
    if name != spec.name:
        return
    _hits[0] += 1
    if _hits[0] != spec.at:
        return
    once = config.raw("CITY_USAGE_FAULT_ONCE")
    if once:
        try:
            with open(once, "x") as marker:  # exclusive create: only one process fires
                marker.write(f"{name} #{spec.at} in process {os.getpid()}\n")
        except FileExistsError:
            return
    if spec.raise_:
        about = f" ({subject})" if subject is not None else ""
        raise InjectedFault(f"injected fault at {name} #{spec.at}{about}")
    os.kill(os.getpid(), signal.SIGKILL)
