"""The code location: one entry point over the domains under assets/<domain>/ (see
workspace.yaml). Each domain's `definitions.py` holds its assets, checks, jobs, schedules and
sensors; this module only merges them with the shared resources."""

from __future__ import annotations

import dagster as dg

from assets.exports import definitions as exports_defs
from assets.funding import definitions as funding_defs
from assets.report import definitions as report_defs
from assets.usage import definitions as usage_defs
from pipelines import resources


def _build() -> dg.Definitions:
    # The report reads whichever inputs the domains define, so it is added after them (a
    # function, not a second module-level Definitions, which Dagster would refuse to load).
    domains = dg.Definitions.merge(
        usage_defs.definitions(),
        funding_defs.definitions(),
        exports_defs.definitions(),
        dg.Definitions(resources=resources.build_resources()),
    )
    return dg.Definitions.merge(domains, report_defs.definitions(domains))


@dg.definitions
def city_usage() -> dg.Definitions:
    """The code location, built when Dagster loads it: configuration is read then, never at
    import."""
    return _build()


def __getattr__(name: str) -> object:
    # `from pipelines.definitions import defs` (tests, the CLI): the definitions of this moment.
    if name == "defs":
        return _build()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
