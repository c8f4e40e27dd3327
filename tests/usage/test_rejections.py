"""Rejections (docs/event-model.md rules 2, 5 and 8): every rejected file or row is
quarantined with its file, row and reason, the good rows beside it still load, and every row
read is accounted for (read = accepted + identical duplicates + quarantined)."""

from __future__ import annotations

import io
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.usage.helpers_landing import (
    NOW,
    T0,
    assert_conserved,
    ingest,
    land,
    read_curated,
    table_of,
    valid_row,
)
from usage_model import clock
from usage_model.config import Settings
from usage_model.usage.ingest import build_days, scan_landing
from usage_model.warehouse import connect

GOOD_FILE = "good/part-0.parquet"


def land_good(settings: Settings, n: int = 2) -> list[str]:
    ids = [f"good-{i}" for i in range(n)]
    land(settings, GOOD_FILE, [valid_row(i) for i in ids])
    return ids


def parquet_bytes(rows: list[dict[str, Any]]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table_of(rows), sink)
    return sink.getvalue()


def file_rejections(quarantine: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    return [q for q in quarantine if q["source_file"] == path]


# ---------------------------------------------------------------------------------------------
# Whole-file rejections (rule 8)
# ---------------------------------------------------------------------------------------------

def _random_bytes() -> bytes:
    return random.Random(7).randbytes(4096)


def _csv_bytes() -> bytes:
    return b"event_id,occurred_at,city_id,status\ne1,2026-03-05T10:00:00Z,c1,success\n"


def _truncated_parquet() -> bytes:
    whole = parquet_bytes([valid_row(f"t-{i}") for i in range(50)])
    return whole[: len(whole) // 2]


def _footer_cut_parquet() -> bytes:
    whole = parquet_bytes([valid_row(f"f-{i}") for i in range(5)])
    return whole[:-3]


UNREADABLE = {
    "random_bytes": _random_bytes,
    "csv_renamed": _csv_bytes,
    "zero_bytes": lambda: b"",
    "truncated_half": _truncated_parquet,
    "truncated_footer": _footer_cut_parquet,
}


@pytest.mark.parametrize("kind", sorted(UNREADABLE))
def test_unreadable_file_is_one_quarantine_row_and_others_load(settings: Settings, kind: str):
    good = land_good(settings)
    bad_path = f"bad/{kind}.parquet"
    land(settings, bad_path, UNREADABLE[kind]())

    out = ingest(settings)

    rejected = file_rejections(out.quarantine, bad_path)
    assert len(rejected) == 1, rejected
    entry = rejected[0]
    assert entry["reason"] == "unreadable_file"
    assert entry["source_row"] is None
    assert entry["event_id"] is None
    assert bad_path in entry["detail"]
    assert "\n" not in entry["detail"]
    # the absolute landing path (a local detail) does not leak into the one-line message
    assert str(settings.usage_landing) not in entry["detail"]
    assert out.accepted_ids() == sorted(good)
    assert any(bad_path in p for p in out.scan.problems)
    # rows of an unreadable file cannot be counted: conservation is over the good file
    assert_conserved(settings, rows_landed=len(good))


REQUIRED = ("event_id", "occurred_at", "city_id", "status")


@pytest.mark.parametrize("column", REQUIRED)
def test_missing_required_column_is_schema_mismatch(settings: Settings, column: str):
    good = land_good(settings)
    rows = [{k: v for k, v in valid_row(f"m-{i}").items() if k != column} for i in range(3)]
    bad_path = f"bad/no_{column}.parquet"
    land(settings, bad_path, rows)

    out = ingest(settings)

    rejected = file_rejections(out.quarantine, bad_path)
    assert len(rejected) == 1
    entry = rejected[0]
    assert entry["reason"] == "schema_mismatch"
    assert entry["source_row"] is None
    assert entry["row_count"] == len(rows)
    assert column in entry["detail"] and bad_path in entry["detail"]
    assert out.accepted_ids() == sorted(good)
    assert_conserved(settings, rows_landed=len(good) + len(rows))


def test_missing_city_column_with_town_alias_is_not_a_mismatch(settings: Settings):
    rows = [{"town_id" if k == "city_id" else k: v for k, v in valid_row("alias-1").items()}]
    land(settings, "a.parquet", rows)
    out = ingest(settings)
    assert out.quarantine == []
    assert out.by_id()["alias-1"]["city_id"] == "city-1"


@pytest.mark.parametrize(
    ("column", "values", "arrow_type"),
    [
        ("input_tokens", ["10", "20", "30"], pa.string()),
        ("output_tokens", ["1", None, "3"], pa.string()),
        ("input_tokens", [1.0, 2.5, 3.0], pa.float64()),
        ("reasoning_tokens", [None, 0.5, 1.0], pa.float32()),
        ("cached_input_tokens", [1.0, float("nan"), 3.0], pa.float64()),
        ("latency_ms", ["12", "13", "14"], pa.string()),
    ],
    ids=["text_tokens", "text_tokens_nulls", "float_non_integral", "float32_half",
         "float_nan", "text_latency"],
)
def test_uncastable_column_is_schema_mismatch(
    settings: Settings, column: str, values: list[Any], arrow_type: pa.DataType
):
    good = land_good(settings)
    rows = [valid_row(f"c-{i}", **{column: v}) for i, v in enumerate(values)]
    bad_path = "bad/uncastable.parquet"
    land(settings, bad_path, rows, types={column: arrow_type})

    out = ingest(settings)

    rejected = file_rejections(out.quarantine, bad_path)
    assert [(e["reason"], e["source_row"], e["row_count"]) for e in rejected] == [
        ("schema_mismatch", None, len(rows))
    ]
    assert column in rejected[0]["detail"]
    assert out.accepted_ids() == sorted(good)
    assert_conserved(settings, rows_landed=len(good) + len(rows))


@pytest.mark.parametrize("arrow_type", [pa.float64(), pa.float32()])
def test_integral_float_tokens_are_accepted_as_integers(
    settings: Settings, arrow_type: pa.DataType
):
    values = [12.0, None, 0.0, 4096.0]
    rows = [
        valid_row(f"fl-{i}", input_tokens=v, output_tokens=v, cached_input_tokens=v,
                  reasoning_tokens=v)
        for i, v in enumerate(values)
    ]
    types = {c: arrow_type for c in
             ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens")}
    land(settings, "floats.parquet", rows, types=types)

    out = ingest(settings)

    assert out.quarantine == []
    by_id = out.by_id()
    for i, v in enumerate(values):
        expected = 0 if v is None else int(v)
        row = by_id[f"fl-{i}"]
        for c in types:
            assert row[c] == expected and type(row[c]) is int, (c, row[c])
    assert_conserved(settings, rows_landed=len(rows))


def test_rejected_files_each_one_row_and_conservation_over_many_files(settings: Settings):
    good = land_good(settings, 3)
    land(settings, "bad/zero.parquet", b"")
    land(settings, "bad/junk.parquet", _random_bytes())
    no_status = [{k: v for k, v in valid_row(f"ns-{i}").items() if k != "status"}
                 for i in range(4)]
    land(settings, "bad/no_status.parquet", no_status)
    land(settings, "bad/text_tokens.parquet",
         [valid_row("tt-0", input_tokens="5")], types={"input_tokens": pa.string()})

    out = ingest(settings)

    expected = {
        ("bad/zero.parquet", None): "unreadable_file",
        ("bad/junk.parquet", None): "unreadable_file",
        ("bad/no_status.parquet", None): "schema_mismatch",
        ("bad/text_tokens.parquet", None): "schema_mismatch",
    }
    assert out.reasons() == expected
    assert len(out.quarantine) == len(expected)
    assert out.accepted_ids() == sorted(good)
    assert_conserved(settings, rows_landed=len(good) + len(no_status) + 1)


# ---------------------------------------------------------------------------------------------
# Row rejections (docs/event-model.md rule 5): one reason per row, the first that applies
# ---------------------------------------------------------------------------------------------

REASON_ORDER = (
    "missing_event_id",
    "missing_occurred_at",
    "bad_timestamp",
    "missing_city_id",
    "bad_status",
    "negative_value",
    "future_event",
)
TOKEN_COLUMNS = ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens")
SKEW = timedelta(days=1)


def expected_reason(row: dict[str, Any], now: datetime) -> str | None:
    """The reason docs/event-model.md rule 5 gives a typed-timestamp row, computed from the
    row alone."""
    broken = []
    if not row.get("event_id"):
        broken.append("missing_event_id")
    if row.get("occurred_at") is None:
        broken.append("missing_occurred_at")
    if not row.get("city_id"):
        broken.append("missing_city_id")
    if row.get("status") not in ("success", "error"):
        broken.append("bad_status")
    numbers = [row.get(c) for c in (*TOKEN_COLUMNS, "latency_ms")]
    if any(v is not None and v < 0 for v in numbers):
        broken.append("negative_value")
    at = row.get("occurred_at")
    if at is not None and at > now + SKEW:
        broken.append("future_event")
    return min(broken, key=REASON_ORDER.index) if broken else None


def typed_cases() -> list[dict[str, Any]]:
    future = NOW + SKEW + timedelta(seconds=1)
    cases: list[dict[str, Any]] = [
        valid_row("ok-0"),
        valid_row(None),
        valid_row(""),
        valid_row("no-time", occurred_at=None),
        valid_row("no-city", city_id=None),
        valid_row("empty-city", city_id=""),
        valid_row("status-ok", status="ok"),
        valid_row("status-upper", status="SUCCESS"),
        valid_row("status-null", status=None),
        valid_row("status-error", status="error", error="rate_limited"),
        valid_row("neg-latency", latency_ms=-0.5),
        valid_row("future", occurred_at=future),
        valid_row("at-skew-limit", occurred_at=NOW + SKEW),
        valid_row("just-under-skew", occurred_at=NOW + SKEW - timedelta(seconds=1)),
        valid_row("zero-tokens", input_tokens=0, output_tokens=0, latency_ms=0.0),
        # several rules broken: only the first reason in rule 5 order is given
        valid_row(None, occurred_at=None, city_id=None, status="bad", input_tokens=-1),
        valid_row("time+city", occurred_at=None, city_id=None, status="nope"),
        valid_row("city+status", city_id="", status="nope", output_tokens=-3),
        valid_row("status+neg+future", status="x", input_tokens=-1, occurred_at=future),
        valid_row("neg+future", reasoning_tokens=-7, occurred_at=future),
        valid_row("ok-1", user_id=None),
    ]
    for column in TOKEN_COLUMNS:
        cases.append(valid_row(f"neg-{column}", **{column: -1}))
    return cases


def test_each_row_gets_the_first_applicable_reason(settings: Settings):
    rows = typed_cases()
    path = "rows/typed.parquet"
    land(settings, path, rows)

    out = ingest(settings)

    expected = {(path, i): expected_reason(r, NOW) for i, r in enumerate(rows)}
    expected_rejected = {k: v for k, v in expected.items() if v is not None}
    assert out.reasons() == expected_rejected
    # the table above covers every row reason that a typed timestamp can produce
    assert set(expected_rejected.values()) == set(REASON_ORDER) - {"bad_timestamp"}
    expected_ok = sorted(r["event_id"] for r, k in zip(rows, expected, strict=True)
                         if expected[k] is None)
    assert out.accepted_ids() == expected_ok
    columns = {k for r in rows for k in r}
    for entry in out.quarantine:
        row = {c: rows[entry["source_row"]].get(c) for c in columns}
        assert entry["event_id"] == (row["event_id"] or None)
        assert path in entry["detail"] and str(entry["source_row"]) in entry["detail"]
        assert entry["row_count"] is None
        # raw_json holds the row as it landed
        raw = json.loads(entry["raw_json"])
        assert set(raw) == set(row)
        for key, value in row.items():
            if key != "occurred_at":
                assert raw[key] == value, (key, raw[key], value)
            elif value is None:
                assert raw[key] is None
    assert_conserved(settings, rows_landed=len(rows))


def test_negative_value_detail_names_the_column(settings: Settings):
    rows = [valid_row(f"n-{c}", **{c: -5}) for c in (*TOKEN_COLUMNS, "latency_ms")]
    land(settings, "neg.parquet", rows)
    out = ingest(settings)
    for entry in out.quarantine:
        column = rows[entry["source_row"]]["event_id"].removeprefix("n-")
        assert entry["reason"] == "negative_value"
        assert column in entry["detail"]
    assert len(out.quarantine) == len(rows)
    assert_conserved(settings, rows_landed=len(rows))


TEXT_TIMES = {
    # value as landed -> expected reason (None: accepted)
    "2026-03-05T10:00:00Z": None,
    "2026-03-05T10:00:00.250Z": None,
    "2026-03-05T15:30:00+05:30": None,
    "2026-03-05T10:00:00": None,
    "03/05/2026 10:00": "bad_timestamp",
    "yesterday": "bad_timestamp",
    "2026-03-05": "bad_timestamp",
    "2026-02-30T10:00:00Z": "bad_timestamp",
    "2026-13-01T10:00:00Z": "bad_timestamp",
    "1741168800": "bad_timestamp",
    "": "missing_occurred_at",
}


def test_text_timestamps_bad_and_missing(settings: Settings):
    rows = [
        {"event_id": f"txt-{i}", "occurred_at": value, "city_id": "c1", "status": "success"}
        for i, value in enumerate(TEXT_TIMES)
    ]
    rows.append({"event_id": "txt-null", "occurred_at": None, "city_id": "c1",
                 "status": "success"})
    # bad_timestamp comes before missing_city_id and bad_status
    rows.append({"event_id": "txt-bad+city", "occurred_at": "yesterday", "city_id": None,
                 "status": "??"})
    expected_reasons = [*TEXT_TIMES.values(), "missing_occurred_at", "bad_timestamp"]
    path = "rows/text.parquet"
    land(settings, path, rows, types={"occurred_at": pa.string()})
    good = land_good(settings)

    out = ingest(settings)

    expected = {(path, i): r for i, r in enumerate(expected_reasons) if r is not None}
    assert out.reasons() == expected
    assert out.accepted_ids() == sorted(
        [r["event_id"] for r, e in zip(rows, expected_reasons, strict=True) if e is None] + good
    )
    for entry in out.quarantine:
        row = rows[entry["source_row"]]
        assert entry["event_id"] == row["event_id"]
        assert json.loads(entry["raw_json"]) == row
    assert_conserved(settings, rows_landed=len(rows) + len(good))


def test_future_event_is_measured_from_the_clock(settings: Settings,
                                                 monkeypatch: pytest.MonkeyPatch):
    """Without `now=`, the skew (default 1 day) is measured from the one clock."""
    real_now = datetime(2031, 7, 4, 9, 0, tzinfo=UTC)
    monkeypatch.setenv(clock.ENV_VAR, real_now.isoformat())
    rows = [
        valid_row("far", occurred_at=real_now + timedelta(days=2)),
        valid_row("near", occurred_at=real_now + timedelta(hours=12)),
        valid_row("past", occurred_at=real_now - timedelta(days=3)),
    ]
    land(settings, "clock.parquet", rows)
    with connect(settings.warehouse) as conn:
        scan = scan_landing(conn, settings)
        build_days(conn, settings, scan.days_touched)
        reasons = conn.execute(
            "SELECT event_id, reason FROM usage_quarantine").fetchall()
    assert reasons == [("far", "future_event")]
    assert sorted(r["event_id"] for r in read_curated(settings)) == ["near", "past"]


def test_future_skew_is_configurable(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CITY_USAGE_FUTURE_SKEW_HOURS", "2")
    configured = Settings.from_env()
    rows = [
        valid_row("in-2h", occurred_at=NOW + timedelta(hours=2)),
        valid_row("over-2h", occurred_at=NOW + timedelta(hours=2, seconds=1)),
    ]
    land(configured, "skew.parquet", rows)
    out = ingest(configured)
    assert out.reasons() == {("skew.parquet", 1): "future_event"}
    assert out.accepted_ids() == ["in-2h"]


def test_invalid_rows_in_several_files_and_good_rows_beside_them(settings: Settings):
    a = [valid_row("a-ok"), valid_row("a-bad", status="ok"), valid_row("a-ok2")]
    b = [valid_row(""), valid_row("b-ok"), valid_row("b-neg", latency_ms=-1.0)]
    land(settings, "a.parquet", a)
    land(settings, "b.parquet", b)
    out = ingest(settings)
    assert out.reasons() == {
        ("a.parquet", 1): "bad_status",
        ("b.parquet", 0): "missing_event_id",
        ("b.parquet", 2): "negative_value",
    }
    assert out.accepted_ids() == ["a-ok", "a-ok2", "b-ok"]
    day = T0.date()
    assert {q["day"] for q in out.quarantine} == {day}
    assert_conserved(settings, rows_landed=len(a) + len(b))
