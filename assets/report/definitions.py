"""Report wiring: the usage_report asset and the sensor that refreshes it."""

from __future__ import annotations

import dagster as dg

from assets.report.assets import REPORT_INPUTS, build_usage_report


def definitions(upstream: dg.Definitions) -> dg.Definitions:
    """The report over whichever of its inputs `upstream` defines (pricing is optional)."""
    defined = {key.to_user_string() for key in upstream.resolve_asset_graph().get_all_asset_keys()}
    report = build_usage_report([name for name in REPORT_INPUTS if name in defined])
    refresh = dg.AutomationConditionSensorDefinition(
        "usage_report_refresh",
        target=dg.AssetSelection.assets(report),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Rebuilds usage_report after anything it reads was updated.",
    )
    return dg.Definitions(assets=[report], sensors=[refresh])
