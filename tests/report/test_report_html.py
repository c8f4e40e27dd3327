"""The HTML report: its numbers match the warehouse, an empty range says so, and it renders
in a real headless Chromium with no network, no console error and marks in every chart."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from tests.cli_process import ROOT, run_cli
from tests.report.browser import chromium_binary, visit_offline
from tests.report.conftest import ARTIFACTS, FIRST, LAST
from usage_model.config import Settings
from usage_model.report import load_report_data, render_html, write_html
from usage_model.usage import layout

BUILT = datetime(2026, 5, 19, 8, 0, tzinfo=UTC)
CHARTS = {"calls_by_model", "tokens_by_model", "error_rate", "top_cities", "top_users",
          "latency", "cost_by_model", "charges", "quarantine", "balances", "topups",
          "exceptions"}


class _Tables(HTMLParser):
    """The numbers tables under the charts, by section id: header + rows of cell text."""

    def __init__(self) -> None:
        super().__init__()
        self.section: str | None = None
        self.tables: dict[str, list[list[str]]] = {}
        self.cell: list[str] | None = None
        self.charts: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "section":
            self.section = attr.get("id")
        elif tag == "div" and attr.get("data-chart"):
            self.charts.add(attr["data-chart"])
        elif tag == "tr" and self.section:
            self.tables.setdefault(self.section, []).append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None and self.section:
            self.tables[self.section][-1].append("".join(self.cell))
            self.cell = None


def _parse(page: str) -> _Tables:
    parser = _Tables()
    parser.feed(page)
    return parser


def _report(settings: Settings, first: date = FIRST, last: date = LAST):
    with duckdb.connect(str(settings.warehouse), read_only=True) as conn:
        return load_report_data(conn, settings, first, last, built_at=BUILT)


def _curated_count(settings: Settings, where: str = "true") -> int:
    files = [path for _, path in layout.day_files(settings.events_location())]
    with duckdb.connect() as conn:
        return conn.execute(f"SELECT count(*) FROM read_parquet($files) WHERE {where}",
                            {"files": files}).fetchone()[0]


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def test_tables_under_the_charts_hold_the_warehouse_numbers(report_warehouse):
    page = _parse(render_html(_report(report_warehouse)))
    assert page.charts == CHARTS
    header, *rows = page.tables["calls_by_model"]
    assert header == ["day", "model", "calls"]
    assert sum(_number(r[2]) for r in rows) == _curated_count(report_warehouse)
    assert {r[0] for r in rows} == {"2026-05-16", "2026-05-17", "2026-05-18"}
    header, *rows = page.tables["error_rate"]
    errors = _curated_count(report_warehouse, "status = 'error'")
    assert sum(_number(r[2]) for r in rows) == errors
    # credits always come with their dollar value; 1 USD = 1,000,000 credits
    topups = {r[0]: r for r in page.tables["topups"][1:]}
    assert topups["not_credited"][4] == "5,000,000 credits ($5.00)"
    balances = {r[0]: r[2] for r in page.tables["balances"][1:]}
    assert balances == {"u-0001": "12,500,000 credits ($12.50)",
                        "u-0002": "3,000,000 credits ($3.00)"}
    assert page.tables["exceptions"][1][0] == "amount_mismatch"


def test_titles_say_the_range_and_the_time_zone(report_warehouse):
    page = render_html(_report(report_warehouse))
    headings = re.findall(r"<h3>(.*?)</h3>", page)
    assert len(headings) == len(CHARTS)
    usage = [h for h in headings if "as of" not in h]
    assert usage and all("2026-05-16 – 2026-05-18 (UTC)" in h for h in usage)
    assert all("2026-05-19 08:00 UTC" in h for h in headings if "as of" in h)


def test_an_empty_range_says_so_instead_of_drawing_nothing(report_warehouse):
    page = render_html(_report(report_warehouse, date(2026, 4, 1), date(2026, 4, 30)))
    assert "No usage recorded between 2026-04-01 – 2026-04-30 (UTC)." in page
    parsed = _parse(page)
    assert not parsed.charts & {"calls_by_model", "error_rate", "top_users", "latency"}
    assert page.count("No calls in this range.") == 5
    assert parsed.charts >= {"balances", "topups", "exceptions"}  # funding is not ranged


def test_report_command_writes_the_page_and_prints_the_headline(report_warehouse, tmp_path):
    out = tmp_path / "out" / "report.html"
    done = run_cli("report", "--html", str(out), "--from", "2026-05-17", "--to", "2026-05-19")
    assert done.returncode == 0, done.stderr
    assert f"report: {out}" in done.stderr
    calls = _curated_count(report_warehouse, "day BETWEEN '2026-05-17' AND '2026-05-18'")
    assert re.search(rf"calls\s+{calls:,}\n", done.stdout)
    assert "2026-05-17 – 2026-05-18 (UTC)" in out.read_text()


@pytest.mark.parametrize("args, message", [
    (("--from", "2026-05-18", "--to", "2026-05-17"), "--from 2026-05-18 is not before --to"),
    (("--from", "2026-05-18", "--to", "2026-05-18"), "the range [--from, --to) is empty"),
    (("--from", "May 1"), "--from 'May 1' is not a date"),
])
def test_report_command_rejects_a_bad_range_in_one_line(report_warehouse, args, message):
    done = run_cli("report", *args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr


def test_report_command_without_a_warehouse_fails_in_one_line(settings):  # an empty layout
    done = run_cli("report")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "no warehouse yet" in done.stderr


@pytest.mark.skipif(chromium_binary() is None,
                    reason="Debian's chromium is not installed (make test installs it as root)")
def test_report_renders_offline_in_headless_chromium(report_warehouse):
    path = write_html(_report(report_warehouse), report_warehouse.data_dir / "report.html")
    shot = ROOT / ARTIFACTS / "report.png"
    visit = visit_offline(path, expected_charts=len(CHARTS), screenshot=shot)
    assert visit.console_errors == []
    assert visit.remote_requests == []
    assert set(visit.charts) == CHARTS
    assert all(marks > 0 for marks in visit.charts.values()), visit.charts
    assert "City usage report · 2026-05-16 – 2026-05-18 (UTC)" in visit.text
    assert shot.stat().st_size > 10_000


@pytest.mark.skipif(chromium_binary() is None,
                    reason="Debian's chromium is not installed (make test installs it as root)")
def test_an_empty_report_renders_without_errors(report_warehouse, tmp_path: Path):
    data = _report(report_warehouse, date(2026, 4, 1), date(2026, 4, 30))
    path = write_html(data, tmp_path / "empty.html")
    visit = visit_offline(path, expected_charts=4)
    assert visit.console_errors == [] and visit.remote_requests == []
    assert "No usage recorded between 2026-04-01 – 2026-04-30 (UTC)." in visit.text


@pytest.mark.skipif(chromium_binary() is None,
                    reason="Debian's chromium is not installed (make test installs it as root)")
def test_the_browser_probe_sees_console_errors_and_network_fetches(tmp_path: Path):
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><div class="vis" data-chart="x"></div><script>'
                    'console.error("boom"); fetch("http://example.invalid/x.js").catch(() => {});'
                    "</script></body></html>")
    visit = visit_offline(page, expected_charts=1, timeout_s=3)
    assert any("boom" in e for e in visit.console_errors)
    assert "http://example.invalid/x.js" in visit.remote_requests
    assert visit.charts == {"x": 0}
