"""Named crash points for the fault-injection tests (tests/faults/).

`CITY_USAGE_FAULT_POINT=<name>:<n>` makes the n-th call of `fault_point(<name>)` in this
process SIGKILL the process (a crash at a known moment, not a timing race);
`<name>:<n>:raise` raises `InjectedFault` there instead (a run that fails cleanly).
With `CITY_USAGE_FAULT_ONCE=<file>` the fault fires only while that file does not exist and
creates it first: once across processes (a Celery worker's replacement process runs the
requeued step again and must not crash the same way).
Unset, a call costs one comparison: the variable is read once, at import.
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("CITY_USAGE_FAULT_POINT", "").split(":")
_NAME = _SPEC[0] or None
_AT = int(_SPEC[1]) if len(_SPEC) > 1 else 1
_RAISE = len(_SPEC) > 2 and _SPEC[2] == "raise"
_ONCE = os.environ.get("CITY_USAGE_FAULT_ONCE")
_hits = [0]


class InjectedFault(RuntimeError):
    """The failure a test asked for at a named point."""


def fault_point(name: str, subject: object = None) -> None:
    """Crash here when a test named this point (see the module docstring); else nothing.
    `subject` (e.g. the file being handled) is named in the raised error."""
    if name != _NAME:
        return
    _hits[0] += 1
    if _hits[0] != _AT:
        return
    if _ONCE:
        try:
            with open(_ONCE, "x") as marker:  # exclusive create: only one process fires
                marker.write(f"{name} #{_AT} in process {os.getpid()}\n")
        except FileExistsError:
            return
    if _RAISE:
        about = f" ({subject})" if subject is not None else ""
        raise InjectedFault(f"injected fault at {name} #{_AT}{about}")
    os.kill(os.getpid(), signal.SIGKILL)
