"""The code location: one entry point, one module per domain (see workspace.yaml)."""

from __future__ import annotations

import dagster as dg

from pipelines import exports_defs, funding_defs, report_defs, resources, usage_defs

_domains = dg.Definitions.merge(
    usage_defs.definitions(),
    funding_defs.definitions(),
    exports_defs.definitions(),
    dg.Definitions(resources=resources.build_resources()),
)
defs = dg.Definitions.merge(_domains, report_defs.definitions(_domains))
