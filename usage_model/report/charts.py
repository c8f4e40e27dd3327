"""Vega-Lite chart specs (built with Altair) for the report's sections.

Each builder takes the section's rows and returns a Vega-Lite spec as a dict, with the data
inline and a tooltip on every mark, so the numbers behind a bar or point are one hover away
(the page also prints them in a table under each chart).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import altair as alt

from usage_model.report.data import Rows
from usage_model.report.numbers import CREDITS_PER_USD

WIDTH = 640
HEIGHT = 260
Spec = dict[str, Any]

_DAY = alt.X("day:O", title="day", axis=alt.Axis(labelAngle=-45))
# 20 distinct colors: a city's dozen or so models never share one.
_MODEL_COLOR = alt.Color("model:N", title="model", scale=alt.Scale(scheme="tableau20"))


def _spec(chart: alt.Chart, title: str, bars_per_row: bool = False) -> Spec:
    # The page prints the title above the chart; as the description it also labels the SVG
    # for screen readers. A ranked (horizontal) chart grows with its rows instead.
    height = alt.Step(24) if bars_per_row else HEIGHT
    return chart.properties(description=title, width=WIDTH, height=height).to_dict()


def _chart(rows: Rows, usd_of: str | None = None, usd_as: str = "usd") -> alt.Chart:
    """A chart over inline rows; with `usd_of`, a `usd_as` field holds that credits field in
    dollars, so axes and tooltips can show USD beside credits."""
    chart = alt.Chart(alt.Data(values=rows))
    if usd_of:
        chart = chart.transform_calculate(**{usd_as: f"datum.{usd_of} / {CREDITS_PER_USD}"})
    return chart


def _stacked_by_model(measure: str, label: str) -> Callable[[Rows, str], Spec]:
    def build(rows: Rows, title: str) -> Spec:
        chart = _chart(rows).mark_bar().encode(
            x=_DAY,
            y=alt.Y(f"{measure}:Q", title=label, stack="zero"),
            color=_MODEL_COLOR,
            tooltip=[
                alt.Tooltip("day:O"), alt.Tooltip("model:N"),
                alt.Tooltip(f"{measure}:Q", title=label, format=","),
            ],
        )
        return _spec(chart, title)

    return build


calls_by_model = _stacked_by_model("calls", "calls")
tokens_by_model = _stacked_by_model("tokens", "tokens (input + output)")


def _tips(*fields: tuple[str, str | None, str | None]) -> list[alt.Tooltip]:
    """Tooltips from (field:type, title, format) triples; None keeps Vega-Lite's default."""
    return [alt.Tooltip(field, **{k: v for k, v in (("title", title), ("format", fmt)) if v})
            for field, title, fmt in fields]


_CREDITS_AND_USD = (("cost_credits:Q", "credits", ","), ("cost_usd:Q", "USD", "$,.2f"))


def cost_by_model(rows: Rows, title: str) -> Spec:
    chart = _chart(rows, "cost_credits", "cost_usd").mark_bar().encode(
        x=_DAY, y=alt.Y("cost_usd:Q", title="cost (USD)", stack="zero"), color=_MODEL_COLOR,
        tooltip=_tips(("day:O", None, None), ("model:N", None, None), *_CREDITS_AND_USD),
    )
    return _spec(chart, title)


def error_rate(rows: Rows, title: str) -> Spec:
    chart = _chart(rows).mark_line(point=True).encode(
        x=_DAY, y=alt.Y("error_rate:Q", title="error rate", axis=alt.Axis(format=".1%")),
        tooltip=_tips(("day:O", None, None), ("calls:Q", None, ","),
                      ("error_calls:Q", "errors", ","), ("error_rate:Q", "error rate", ".2%")),
    )
    return _spec(chart, title)


def _ranked(label_field: str, label: str) -> Callable[[Rows, str], Spec]:
    def build(rows: Rows, title: str) -> Spec:
        chart = _chart(rows, "cost_credits", "cost_usd").mark_bar().encode(
            y=alt.Y(f"{label_field}:N", title=label, sort="-x"), x=alt.X("calls:Q", title="calls"),
            tooltip=_tips((f"{label_field}:N", label, None), ("calls:Q", None, ","),
                          ("tokens:Q", None, ","), ("cost_credits:Q", "cost credits", ","),
                          ("cost_usd:Q", "cost USD", "$,.2f")),
        )
        return _spec(chart, title, bars_per_row=True)

    return build


top_cities = _ranked("city", "city")
top_users = _ranked("user", "city / user")


def latency(rows: Rows, title: str) -> Spec:
    chart = _chart(rows).transform_fold(
        ["p50_ms", "p95_ms"], as_=["percentile", "ms"]
    ).mark_bar().encode(
        x=alt.X("model:N", title="model", sort=alt.EncodingSortField("ms", op="max",
                                                                       order="descending")),
        xOffset=alt.XOffset("percentile:N"),
        y=alt.Y("ms:Q", title="latency (ms)"),
        color=alt.Color("percentile:N", title="percentile"),
        tooltip=[
            alt.Tooltip("model:N"), alt.Tooltip("percentile:N"),
            alt.Tooltip("ms:Q", title="latency ms", format=",.1f"),
            alt.Tooltip("timed_calls:Q", title="calls with latency", format=","),
        ],
    )
    return _spec(chart, title)


def charges_by_city(rows: Rows, title: str) -> Spec:
    chart = _chart(rows, "credits").mark_bar().encode(
        y=alt.Y("city:N", title="city", sort="-x"),
        x=alt.X("sum(usd):Q", title="charged (USD)"),
        color=alt.Color("period:N", title="period"),
        tooltip=[
            alt.Tooltip("period:N"), alt.Tooltip("city:N"), alt.Tooltip("hook:N"),
            alt.Tooltip("credits:Q", format=","), alt.Tooltip("usd:Q", title="USD",
                                                              format="$,.2f"),
            alt.Tooltip("priced:Q", title="priced charges", format=","),
            alt.Tooltip("unpriced:Q", title="unpriced", format=","),
        ],
    )
    return _spec(chart, title, bars_per_row=True)


def _usd_bars(rows: Rows, title: str, *, credits: str, field: str, label: str, x_title: str,
              tooltip: list[alt.Tooltip], color: alt.Color | None = None) -> Spec:
    """One bar per `field` value, largest first, of a credits column shown in USD (the USD
    amount ends the tooltip)."""
    encoding: dict[str, Any] = {
        "y": alt.Y(f"{field}:N", title=label, sort="-x"),
        "x": alt.X("usd:Q", title=x_title),
        "tooltip": [*tooltip, alt.Tooltip("usd:Q", title="USD", format="$,.2f")],
    }
    if color is not None:
        encoding["color"] = color
    return _spec(_chart(rows, credits).mark_bar().encode(**encoding), title, bars_per_row=True)


def balances(rows: Rows, title: str) -> Spec:
    return _usd_bars(rows, title, credits="balance", field="user_id", label="wallet (user)",
                     x_title="balance (USD)", tooltip=[
                         alt.Tooltip("user_id:N", title="user"), alt.Tooltip("unit:N"),
                         alt.Tooltip("balance:Q", title="credits", format=","),
                     ])


def topups_by_verdict(rows: Rows, title: str) -> Spec:
    return _usd_bars(rows, title, credits="credits_at_stake", field="verdict", label="verdict",
                     x_title="credits at stake (USD)",
                     color=alt.Color("verdict:N", legend=None), tooltip=[
                         alt.Tooltip("verdict:N"), alt.Tooltip("topups:Q", format=","),
                         alt.Tooltip("stale_pending:Q", title="stale pending", format=","),
                         alt.Tooltip("credits_at_stake:Q", title="credits", format=","),
                     ])


def exceptions_by_reason(rows: Rows, title: str) -> Spec:
    chart = _chart(rows).mark_bar().encode(
        y=alt.Y("reason:N", title="reason", sort="-x"),
        x=alt.X("count():Q", title="open exceptions", axis=alt.Axis(tickMinStep=1)),
        tooltip=[alt.Tooltip("reason:N"), alt.Tooltip("count():Q", title="open")],
    )
    return _spec(chart, title, bars_per_row=True)


def _count_by(field: str, label: str, measure: str, measure_label: str
              ) -> Callable[[Rows, str], Spec]:
    def build(rows: Rows, title: str) -> Spec:
        chart = _chart(rows).mark_bar().encode(
            y=alt.Y(f"{field}:N", title=label, sort="-x"),
            x=alt.X(f"{measure}:Q", title=measure_label, axis=alt.Axis(tickMinStep=1)),
            tooltip=[alt.Tooltip(f"{field}:N", title=label),
                     alt.Tooltip(f"{measure}:Q", title=measure_label, format=",")],
        )
        return _spec(chart, title, bars_per_row=True)

    return build


quarantine_by_reason = _count_by("reason", "reason", "entries", "quarantined rows or files")
