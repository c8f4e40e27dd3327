"""usage_report: the usage and funding report as one self-contained HTML file.

Thin: the queries and the page live in `usage_model.report`. The materialization links to the
file and embeds the headline numbers, so the Dagster UI shows them without opening it.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from assets.metadata import OWNERS, WAREHOUSE_STEP
from assets.resources import CityUsageSettings, WarehouseResource
from usage_model.report import default_range, headline_markdown, load_report_data, write_html

# Whatever the report reads; `charges` only exists when a pricing hook is configured.
REPORT_INPUTS = (
    "usage_events", "usage_quarantine", "usage_daily_by_model", "usage_daily_by_city",
    "usage_daily_by_user", "charges", "balances", "reconciliation_report",
    "reconciliation_exceptions",
)

# Refreshed whenever anything it reads is updated, by whoever updated it (a schedule, a
# sensor, the CLI); days without data are expected, so missing upstream partitions do not
# hold it back.
REFRESH = dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())


def build_usage_report(inputs: Sequence[str]) -> dg.AssetsDefinition:
    @dg.asset(
        name="usage_report",
        deps=list(inputs),
        group_name="report",
        kinds={"html"},
        owners=OWNERS,
        **WAREHOUSE_STEP,  # it holds a warehouse connection, so it queues with the writers
        automation_condition=REFRESH,
        description="Usage and funding report (data/report.html): calls, tokens, errors, "
        "latency, cost per model/city/user over the last 30 summarized days; wallet "
        "balances, topups by reconciliation verdict, open exceptions. One self-contained "
        "HTML file with charts.",
    )
    def usage_report(duckdb: WarehouseResource, settings: CityUsageSettings):
        cfg = settings.get()
        with duckdb.get_connection() as conn:
            first, last = default_range(conn, cfg)
            data = load_report_data(conn, cfg, first, last)
        path = write_html(data, cfg.report_path)
        headline = data.headline()
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(path)),
                "url": dg.MetadataValue.url(path.as_uri()),
                "range": dg.MetadataValue.text(data.range_label),
                "headline": dg.MetadataValue.md(headline_markdown(data)),
                "calls": dg.MetadataValue.int(headline["calls"]),
                "error_rate": dg.MetadataValue.float(headline["error_rate"]),
                "open_exceptions": dg.MetadataValue.int(headline["open_exceptions"]),
                "size_bytes": dg.MetadataValue.int(path.stat().st_size),
            }
        )

    return usage_report
