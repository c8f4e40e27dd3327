"""The usage and funding report: one self-contained HTML file with charts (no Dagster here).

`load_report_data` reads the warehouse for a range of days; `write_html` writes the page;
`headline_markdown` gives the headline numbers for places that show markdown.
"""

from usage_model.report.data import (
    ReportData,
    default_range,
    load_report_data,
    summarized_days,
)
from usage_model.report.page import headline_markdown, render_html, write_html

__all__ = [
    "ReportData",
    "default_range",
    "headline_markdown",
    "load_report_data",
    "render_html",
    "summarized_days",
    "write_html",
]
