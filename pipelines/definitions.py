"""The code location: one entry point, one module per domain (see workspace.yaml)."""

from __future__ import annotations

import dagster as dg

from pipelines import exports_defs, funding_defs, report_defs, resources, usage_defs


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
