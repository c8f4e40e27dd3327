"""The report as one self-contained HTML file: Vega's JavaScript, the styles, every chart's
spec and data are inline, so the file opens anywhere with no network (it is meant to be
mailed or archived). Charts render to SVG; under each one its numbers are printed as a table.
"""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version as package_version
from pathlib import Path

from usage_model.report import charts
from usage_model.report import numbers as fmt
from usage_model.report.data import ReportData, Rows
from usage_model.reporting import markdown_table

Formatter = Callable[[object], str]


def _text(value: object) -> str:
    return "—" if value is None else str(value)


@dataclass(frozen=True)
class Column:
    field: str
    header: str
    show: Formatter = _text
    numeric: bool = False


def _count(field: str, header: str) -> Column:
    return Column(field, header, fmt.count, numeric=True)


def _credits(field: str, header: str) -> Column:
    return Column(field, header, fmt.credits, numeric=True)


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    rows: Callable[[ReportData], Rows]
    chart: Callable[[Rows, str], charts.Spec]
    columns: tuple[Column, ...]
    empty: str
    over_range: bool = True  # usage over the days; funding is the current state

    def heading(self, data: ReportData) -> str:
        when = data.range_label if self.over_range else f"as of {data.built_at:%Y-%m-%d %H:%M} UTC"
        return f"{self.title} · {when}"


def _section(name: str) -> Callable[[ReportData], Rows]:
    return lambda data: data.rows(name)


def _with_cost(name: str) -> Callable[[ReportData], Rows]:
    """Rows of a section, or none when no event carries a cost (nothing to chart)."""
    def rows(data: ReportData) -> Rows:
        found = data.rows(name)
        return found if any(r["cost_credits"] for r in found) else []

    return rows


_DAY_MODEL = (Column("day", "day"), Column("model", "model"))
USAGE = (
    Section("calls_by_model", "Calls per day by model", _section("daily_by_model"),
            charts.calls_by_model, (*_DAY_MODEL, _count("calls", "calls")),
            "No calls in this range."),
    Section("tokens_by_model", "Tokens per day by model", _section("daily_by_model"),
            charts.tokens_by_model,
            (*_DAY_MODEL, _count("input_tokens", "input"), _count("output_tokens", "output"),
             _count("tokens", "total")),
            "No calls in this range."),
    Section("error_rate", "Error rate per day", _section("daily_errors"), charts.error_rate,
            (Column("day", "day"), _count("calls", "calls"), _count("error_calls", "errors"),
             Column("error_rate", "error rate", fmt.percent, numeric=True)),
            "No calls in this range."),
    Section("top_cities", "Top cities by calls", _section("top_cities"), charts.top_cities,
            (Column("city", "city"), _count("calls", "calls"), _count("error_calls", "errors"),
             _count("tokens", "tokens"), _credits("cost_credits", "cost")),
            "No calls in this range."),
    Section("top_users", "Top users by calls", _section("top_users"), charts.top_users,
            (Column("city", "city"), Column("user_id", "user"), _count("calls", "calls"),
             _count("tokens", "tokens"), _credits("cost_credits", "cost")),
            "No calls in this range."),
    Section("latency", "Latency p50 / p95 per model", lambda d: d.latency_by_model,
            charts.latency,
            (Column("model", "model"), _count("timed_calls", "calls with latency"),
             Column("p50_ms", "p50 ms", fmt.millis, numeric=True),
             Column("p95_ms", "p95 ms", fmt.millis, numeric=True)),
            "No call with a recorded latency in this range."),
    Section("cost_by_model", "Cost per day by model (event cost)", _with_cost("daily_by_model"),
            charts.cost_by_model, (*_DAY_MODEL, _credits("cost_credits", "cost")),
            "No event in this range carries a cost."),
    Section("charges", "Charges from pricing hooks by city (months touching the range)",
            _section("charges_by_city"), charts.charges_by_city,
            (Column("period", "period"), Column("city", "city"), Column("hook", "hook"),
             _count("priced", "priced"), _count("unpriced", "unpriced"),
             _credits("credits", "charged")),
            "No pricing hook produced charges for these months."),
    Section("quarantine", "Quarantined rows and files by reason (all landed files)",
            _section("quarantine_by_reason"), charts.quarantine_by_reason,
            (Column("reason", "reason"), _count("entries", "entries"),
             _count("whole_files", "whole files"),
             _count("rows_in_whole_files", "rows in those files")),
            "Nothing quarantined.", over_range=False),
)
FUNDING = (
    Section("balances", "Wallet balances (top 20)", _section("balances"), charts.balances,
            (Column("user_id", "user"), Column("unit", "unit"), _credits("balance", "balance")),
            "No wallet has a balance yet.", over_range=False),
    Section("topups", "Topups by reconciliation verdict", _section("topups_by_verdict"),
            charts.topups_by_verdict,
            (Column("verdict", "verdict"), _count("topups", "topups"),
             _count("payments", "unmatched Stripe payments"),
             _count("stale_pending", "stale pending"),
             _credits("credits_at_stake", "credits at stake")),
            "No topups reconciled yet.", over_range=False),
    Section("exceptions", "Open reconciliation exceptions", _section("exceptions"),
            charts.exceptions_by_reason,
            (Column("reason", "reason"), Column("topup_id", "topup"), Column("user_id", "user"),
             Column("detail", "detail"), Column("since", "since (UTC)")),
            "No open exceptions.", over_range=False),
)
SECTIONS = USAGE + FUNDING

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
       margin: 0 auto; max-width: 1080px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { margin-top: 36px; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 15px; margin: 24px 0 8px; }
.meta, .empty { color: #57606a; } .empty { font-style: italic; padding: 12px 0; }
.banner { background: #fff8c5; border: 1px solid #d4a72c; padding: 8px 12px; border-radius: 6px; }
dl.headline { display: grid; grid-template-columns: repeat(4, 1fr); gap: 8px; margin: 16px 0; }
dl.headline div { background: #f6f8fa; border-radius: 6px; padding: 8px 12px; }
dl.headline dt { color: #57606a; font-size: 12px; } dl.headline dd { margin: 0; font-size: 17px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eaeef2; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
details summary { cursor: pointer; color: #0969da; }
"""

RENDER = """
const specs = JSON.parse(document.getElementById("report-specs").textContent);
for (const [key, spec] of Object.entries(specs)) {
  vegaEmbed("#vis-" + key, spec, {renderer: "svg", actions: false})
    .catch((error) => console.error("chart " + key + ": " + error));
}
"""


@cache
def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script, shipped offline by vl-convert.

    Bundling takes seconds and gives the same text for the same package versions, so it is
    kept in the temp folder under a name carrying them (found without importing either)."""
    versions = "-".join(package_version(p) for p in ("altair", "vl-convert-python"))
    cached = Path(tempfile.gettempdir()) / f"city-usage-vega-{versions}.js"
    if cached.is_file():
        return cached.read_text(encoding="utf-8")
    import vl_convert
    from altair.utils._importers import vl_version_for_vl_convert

    bundle = _script_safe(vl_convert.javascript_bundle(vl_version=vl_version_for_vl_convert()))
    partial = cached.with_name(f"{cached.name}.{os.getpid()}.partial")
    partial.write_text(bundle, encoding="utf-8")
    partial.replace(cached)  # atomic: concurrent writers leave one whole file
    return bundle


def _script_safe(text: str) -> str:
    """Text that cannot end its <script> element early (`</script` written as `<\\/script`,
    the same string or regex to JavaScript and JSON)."""
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)


def headline_items(data: ReportData) -> list[tuple[str, str]]:
    h = data.headline()
    return [
        ("calls", fmt.count(h["calls"])),
        ("error rate", fmt.percent(h["error_rate"])),
        ("tokens (in + out)", fmt.count(h["tokens"])),
        ("models", fmt.count(h["models"])),
        ("event cost", fmt.credits(h["event_cost_credits"])),
        ("charged by hooks", fmt.credits(h["charged_credits"])),
        ("unpriced charges", fmt.count(h["unpriced_charges"])),
        ("wallets", fmt.count(h["wallets"])),
        ("wallet credits", fmt.credits(h["wallet_credits"])),
        ("topups", f"{fmt.count(h['topups'])} ({fmt.count(h['topups_not_ok'])} not ok)"),
        ("open exceptions", fmt.count(h["open_exceptions"])),
    ]


def headline_markdown(data: ReportData) -> str:
    """The headline numbers as a markdown table (Dagster metadata, terminal summaries)."""
    rows = [("range", data.range_label), ("days", str(data.days)), *headline_items(data)]
    return markdown_table(["measure", "value"], rows)


def _table(section: Section, rows: Rows) -> str:
    head = "".join(
        f'<th class="num">{html.escape(c.header)}</th>' if c.numeric
        else f"<th>{html.escape(c.header)}</th>" for c in section.columns
    )
    body = "".join(
        "<tr>" + "".join(
            f'<td{" class=num" if c.numeric else ""}>{html.escape(c.show(row.get(c.field)))}</td>'
            for c in section.columns
        ) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _render_section(section: Section, data: ReportData, specs: dict[str, charts.Spec]) -> str:
    heading = section.heading(data)
    rows = section.rows(data)
    parts = [f'<section class="report-section" id="{section.key}">',
             f"<h3>{html.escape(heading)}</h3>"]
    if not rows:
        parts.append(f'<p class="empty">{html.escape(section.empty)}</p>')
    else:
        specs[section.key] = section.chart(rows, heading)
        parts += [
            f'<div class="vis" id="vis-{section.key}" data-chart="{section.key}"></div>',
            f"<details><summary>Numbers ({len(rows)} rows)</summary>"
            f"{_table(section, rows)}</details>",
        ]
    parts.append("</section>")
    return "\n".join(parts)


def render_html(data: ReportData) -> str:
    """The whole report page for `data`."""
    specs: dict[str, charts.Spec] = {}
    usage = "\n".join(_render_section(s, data, specs) for s in USAGE)
    funding = "\n".join(_render_section(s, data, specs) for s in FUNDING)
    banner = (
        f'<p class="banner">No usage recorded between {html.escape(data.range_label)}.</p>'
        if data.headline()["calls"] == 0 else ""
    )
    cards = "".join(
        f"<div><dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd></div>"
        for k, v in headline_items(data)
    )
    title = f"City usage report · {data.range_label}"
    spec_json = _script_safe(json.dumps(specs, default=str))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{STYLE}</style>
<script>{vega_bundle()}</script>
</head>
<body>
<header>
<h1>{html.escape(title)}</h1>
<p class="meta">{data.days} days; built {data.built_at:%Y-%m-%d %H:%M} UTC. Usage comes from the
daily summaries (latency percentiles from the curated events); funding is the current state.
1 USD = 1,000,000 credits. Hover a mark for its numbers, or open "Numbers" under a chart.</p>
{banner}
<dl class="headline">{cards}</dl>
</header>
<h2>Usage</h2>
{usage}
<h2>Funding</h2>
{funding}
<script type="application/json" id="report-specs">{spec_json}</script>
<script>{RENDER}</script>
</body>
</html>
"""


def write_html(data: ReportData, path: Path) -> Path:
    """Write the report atomically (a reader never sees half a file); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(render_html(data), encoding="utf-8")
    partial.replace(path)
    return path
