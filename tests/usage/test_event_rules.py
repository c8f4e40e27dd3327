"""Usage Event Model v1 rules (docs/event-model.md rules 1-10): deduplication, timestamps and days,
opaque ids, aliases, the Downcity export shape, which files are read, and idempotence.

Every test lands real Parquet files, runs the real scan and build on a real DuckDB file and
reads the curated Parquet back; expected values come from the test's own inputs."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from tests.usage.helpers_landing import (
    T0,
    assert_conserved,
    curated_day,
    ingest,
    land,
    valid_row,
)
from usage_model.config import Settings
from usage_model.usage import id_index
from usage_model.usage.event_model import CURATED_SCHEMA
from usage_model.usage.summaries import build_daily
from usage_model.warehouse import connect


def day_loads(settings: Settings) -> dict[date, dict[str, int]]:
    with connect(settings.warehouse) as conn:
        rows = conn.execute(
            "SELECT day, rows_indexed, accepted, identical_duplicates, conflicts "
            "FROM usage_day_loads").fetchall()
    return {r[0]: dict(zip(("rows", "accepted", "identical", "conflicts"), r[1:], strict=True))
            for r in rows}


# ---------------------------------------------------------------------------------------------
# Deduplication (rules 5, 6, 7)
# ---------------------------------------------------------------------------------------------

def test_identical_duplicates_across_files_collapse_and_are_counted(settings: Settings):
    shared = valid_row("dup-1")
    land(settings, "a/x.parquet", [shared, valid_row("a-only")])
    land(settings, "b/x.parquet", [valid_row("b-only"), shared])
    land(settings, "c/x.parquet", [shared, shared])  # also twice within one file

    out = ingest(settings)

    assert out.accepted_ids() == ["a-only", "b-only", "dup-1"]
    assert out.by_id()["dup-1"]["source_file"] == "a/x.parquet"
    assert out.by_id()["dup-1"]["source_row"] == 0
    assert out.quarantine == []
    loads = day_loads(settings)[T0.date()]
    landed = 6
    assert loads == {"rows": landed, "accepted": 3, "identical": landed - 3, "conflicts": 0}
    assert out.build.identical_duplicates == landed - 3
    assert_conserved(settings, rows_landed=landed)


def test_identical_after_normalization(settings: Settings):
    """Aliases mapped, the time as a UTC instant, null tokens as 0: still the same event."""
    tokyo = ZoneInfo("Asia/Tokyo")
    canonical = valid_row("norm-1", input_tokens=0, output_tokens=5, cached_input_tokens=0)
    land(settings, "a.parquet", [canonical])
    other = {k: v for k, v in canonical.items() if k not in ("city_id", "model_id")}
    other.update(town_id=canonical["city_id"], model=canonical["model_id"],
                 occurred_at=canonical["occurred_at"].astimezone(tokyo), input_tokens=None,
                 cached_input_tokens=None)
    land(settings, "b.parquet", [other],
         types={"occurred_at": pa.timestamp("ns", tz="Asia/Tokyo")})
    land(settings, "c.parquet",
         [dict(canonical, occurred_at=canonical["occurred_at"].strftime("%Y-%m-%dT%H:%M:%SZ"))],
         types={"occurred_at": pa.string()})

    out = ingest(settings)

    assert out.accepted_ids() == ["norm-1"]
    assert out.quarantine == []
    assert day_loads(settings)[T0.date()]["identical"] == 2
    assert_conserved(settings, rows_landed=3)


def test_conflict_quarantines_the_later_copy_with_its_raw_row(settings: Settings):
    first = valid_row("conf-1", input_tokens=10)
    second = valid_row("conf-1", input_tokens=11)
    land(settings, "a/x.parquet", [valid_row("a-0"), first])
    land(settings, "b/x.parquet", [second])

    out = ingest(settings)

    assert out.by_id()["conf-1"]["input_tokens"] == first["input_tokens"]
    assert out.by_id()["conf-1"]["source_file"] == "a/x.parquet"
    assert [(q["source_file"], q["source_row"], q["event_id"], q["reason"], q["day"])
            for q in out.quarantine] == [
        ("b/x.parquet", 0, "conf-1", "duplicate_conflict", T0.date())]
    raw = json.loads(out.quarantine[0]["raw_json"])
    assert raw["input_tokens"] == second["input_tokens"] and raw["event_id"] == "conf-1"
    assert "a/x.parquet" in out.quarantine[0]["detail"]
    assert day_loads(settings)[T0.date()]["conflicts"] == 1
    assert_conserved(settings, rows_landed=3)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"user_id": None}, {"user_id": ""}),
        ({"error": None}, {"error": ""}),
        ({"latency_ms": None}, {"latency_ms": 0.0}),
        ({"cost_credits": None}, {"cost_credits": 0}),
        ({"metadata_json": '{"a":1}'}, {"metadata_json": '{"a": 1}'}),
        ({"occurred_at": T0}, {"occurred_at": T0 + timedelta(microseconds=1)}),
        ({"status": "success"}, {"status": "error"}),
        ({"provider": "p"}, {"provider": "P"}),
    ],
    ids=["user_null_vs_empty", "error_null_vs_empty", "latency_null_vs_zero",
         "cost_null_vs_zero", "metadata_text", "one_microsecond", "status", "provider_case"],
)
def test_any_difference_after_normalization_is_a_conflict(
    settings: Settings, first: dict[str, Any], second: dict[str, Any]
):
    land(settings, "a.parquet", [valid_row("diff-1", **first)])
    land(settings, "b.parquet", [valid_row("diff-1", **second)])
    out = ingest(settings)
    assert out.by_id()["diff-1"]["source_file"] == "a.parquet"
    assert out.reasons() == {("b.parquet", 0): "duplicate_conflict"}
    assert_conserved(settings, rows_landed=2)


def test_conflict_within_one_file_first_row_wins(settings: Settings):
    rows = [valid_row("r-1", status="error"), valid_row("r-1", status="success")]
    land(settings, "one.parquet", rows)
    out = ingest(settings)
    assert out.by_id()["r-1"]["status"] == "error"
    assert out.reasons() == {("one.parquet", 1): "duplicate_conflict"}
    assert_conserved(settings, rows_landed=2)


def test_winner_depends_on_path_order_not_arrival_order(settings: Settings):
    early = valid_row("w-1", output_tokens=1)  # in a/x.parquet: sorts first, lands last
    late = valid_row("w-1", output_tokens=2)   # in b/x.parquet: sorts last, lands first
    land(settings, "b/x.parquet", [late])
    first = ingest(settings)
    assert first.by_id()["w-1"]["output_tokens"] == late["output_tokens"]
    assert first.quarantine == []

    land(settings, "a/x.parquet", [early])
    second = ingest(settings)

    assert second.by_id()["w-1"]["output_tokens"] == early["output_tokens"]
    assert second.by_id()["w-1"]["source_file"] == "a/x.parquet"
    assert second.reasons() == {("b/x.parquet", 0): "duplicate_conflict"}
    assert_conserved(settings, rows_landed=2)


def test_path_order_is_unicode_order_of_relative_paths(settings: Settings):
    """`a-b.parquet` sorts before `a/x.parquet` ('-' < '/'), and 'Z' before 'a'."""
    land(settings, "a/x.parquet", [valid_row("u-1", output_tokens=1)])
    land(settings, "a-b.parquet", [valid_row("u-1", output_tokens=2)])
    land(settings, "Z.parquet", [valid_row("u-2", output_tokens=3)])
    land(settings, "a.parquet", [valid_row("u-2", output_tokens=4)])
    out = ingest(settings)
    paths = ["a/x.parquet", "a-b.parquet", "Z.parquet", "a.parquet"]
    first_u1 = min(paths[:2])
    first_u2 = min(paths[2:])
    assert out.by_id()["u-1"]["source_file"] == first_u1
    assert out.by_id()["u-2"]["source_file"] == first_u2
    assert {q["source_file"] for q in out.quarantine} == (set(paths) - {first_u1, first_u2})


@pytest.mark.parametrize("late_first", [False, True], ids=["in_order", "reverse_arrival"])
def test_conflict_across_two_days_keeps_exactly_one_copy(settings: Settings, late_first: bool):
    day1 = T0
    day2 = T0 + timedelta(days=1)
    files = {
        "a/x.parquet": [valid_row("xday", occurred_at=day1)],
        "b/x.parquet": [valid_row("xday", occurred_at=day2),
                        valid_row("b-other", occurred_at=day2)],
    }
    order = sorted(files, reverse=late_first)
    land(settings, order[0], files[order[0]])
    ingest(settings)
    land(settings, order[1], files[order[1]])

    out = ingest(settings, extra_days=[day1.date(), day2.date()])

    copies = [r for r in out.curated if r["event_id"] == "xday"]
    assert len(copies) == 1
    assert copies[0]["source_file"] == "a/x.parquet" and copies[0]["day"] == day1.date()
    assert out.reasons() == {("b/x.parquet", 0): "duplicate_conflict"}
    assert out.quarantine[0]["day"] == day2.date()
    assert_conserved(settings, rows_landed=3)


def test_invalid_row_takes_no_part_in_dedup(settings: Settings):
    land(settings, "a/x.parquet", [valid_row("inv-1", status="ok", input_tokens=99)])
    land(settings, "b/x.parquet", [valid_row("inv-1", input_tokens=1)])
    land(settings, "c/x.parquet", [valid_row("inv-1", input_tokens=1)])
    out = ingest(settings)
    assert out.by_id()["inv-1"]["source_file"] == "b/x.parquet"
    assert out.reasons() == {("a/x.parquet", 0): "bad_status"}
    assert day_loads(settings)[T0.date()] == {
        "rows": 2, "accepted": 1, "identical": 1, "conflicts": 0}
    assert_conserved(settings, rows_landed=3)


# ---------------------------------------------------------------------------------------------
# Timestamps and days (rules 1, 2)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("unit", ["ms", "us", "ns"])
@pytest.mark.parametrize("zone", [None, "UTC", "Asia/Kolkata", "America/Los_Angeles", "+03:00"])
def test_typed_timestamps_any_unit_and_zone(settings: Settings, unit: str, zone: str | None):
    instants = [
        datetime(2026, 3, 5, 23, 59, 59, 123000, tzinfo=UTC),
        datetime(2026, 3, 6, 0, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 4, 18, 30, 0, 456000, tzinfo=UTC),
    ]
    if zone is None:  # naive = UTC
        values: list[datetime] = [i.replace(tzinfo=None) for i in instants]
    else:
        values = [i.astimezone(ZoneInfo(zone) if "/" in zone or zone == "UTC" else
                               timezone(timedelta(hours=3))) for i in instants]
    rows = [valid_row(f"ts-{k}", occurred_at=v) for k, v in enumerate(values)]
    land(settings, "ts.parquet", rows, types={"occurred_at": pa.timestamp(unit, tz=zone)})

    out = ingest(settings)

    assert out.quarantine == []
    by_id = out.by_id()
    for k, instant in enumerate(instants):
        row = by_id[f"ts-{k}"]
        assert row["occurred_at"] == instant
        assert row["day"] == instant.date()  # UTC days by default
    assert_conserved(settings, rows_landed=len(rows))


def test_nanosecond_timestamps_keep_microseconds(settings: Settings):
    ns = 1_772_704_800_123_456_000  # 2026-03-05T10:00:00.123456Z in ns
    table = pa.table({
        "event_id": ["ns-1"], "city_id": ["c"], "status": ["success"],
        "occurred_at": pa.array([ns], pa.timestamp("ns")),
    })
    land(settings, "ns.parquet", table)
    out = ingest(settings)
    expected = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
    assert out.by_id()["ns-1"]["occurred_at"] == expected


ISO_CASES = {
    "2026-03-05T10:00:00Z": datetime(2026, 3, 5, 10, tzinfo=UTC),
    "2026-03-05T15:30:00+05:30": datetime(2026, 3, 5, 10, tzinfo=UTC),
    "2026-03-05T02:00:00-08:00": datetime(2026, 3, 5, 10, tzinfo=UTC),
    "2026-03-05T10:00:00": datetime(2026, 3, 5, 10, tzinfo=UTC),
    "2026-03-05T10:00:00.5Z": datetime(2026, 3, 5, 10, 0, 0, 500000, tzinfo=UTC),
    "2026-03-05T10:00:00.123456": datetime(2026, 3, 5, 10, 0, 0, 123456, tzinfo=UTC),
    "2026-03-05T10:00:00.123+01:00": datetime(2026, 3, 5, 9, 0, 0, 123000, tzinfo=UTC),
    "2026-03-05 10:00:00Z": datetime(2026, 3, 5, 10, tzinfo=UTC),
    "2026-03-05T23:30:00-05:00": datetime(2026, 3, 6, 4, 30, tzinfo=UTC),
}


def test_lowercase_z_is_utc(settings: Settings):
    """RFC 3339 (section 5.6, note) allows a lower-case `z`; normalize.ISO_INSTANT accepts it."""
    rows = [valid_row("lower-z", occurred_at="2026-03-05T10:00:00z")]
    land(settings, "lower.parquet", rows, types={"occurred_at": pa.string()})
    out = ingest(settings)
    assert out.quarantine == []
    assert out.by_id()["lower-z"]["occurred_at"] == datetime(2026, 3, 5, 10, tzinfo=UTC)


def test_iso_strings_with_offsets_and_fractions(settings: Settings):
    rows = [valid_row(f"iso-{k}", occurred_at=text) for k, text in enumerate(ISO_CASES)]
    land(settings, "iso.parquet", rows, types={"occurred_at": pa.string()})
    out = ingest(settings)
    assert out.quarantine == []
    by_id = out.by_id()
    for k, instant in enumerate(ISO_CASES.values()):
        assert by_id[f"iso-{k}"]["occurred_at"] == instant, list(ISO_CASES)[k]
        assert by_id[f"iso-{k}"]["day"] == instant.date()
    assert_conserved(settings, rows_landed=len(rows))


# instants on both sides of local midnight (LA both before and after its 2026-03-08 DST change)
ZONE_INSTANTS = {
    "America/Los_Angeles": [
        datetime(2026, 3, 5, 7, 30, tzinfo=UTC),
        datetime(2026, 3, 5, 8, 0, tzinfo=UTC),
        datetime(2026, 3, 5, 8, 30, tzinfo=UTC),
        datetime(2026, 3, 9, 6, 59, 59, tzinfo=UTC),
        datetime(2026, 3, 9, 7, 0, tzinfo=UTC),
    ],
    "Asia/Kolkata": [
        datetime(2026, 3, 4, 18, 29, 59, tzinfo=UTC),
        datetime(2026, 3, 4, 18, 30, tzinfo=UTC),
        datetime(2026, 3, 5, 23, 0, tzinfo=UTC),
    ],
}


@pytest.mark.parametrize("zone", sorted(ZONE_INSTANTS))
@pytest.mark.parametrize("as_text", [False, True], ids=["typed", "iso_text"])
def test_day_is_the_local_date_in_the_configured_zone(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, zone: str, as_text: bool
):
    monkeypatch.setenv("CITY_USAGE_TIMEZONE", zone)
    zoned = Settings.from_env()
    assert zoned.timezone == zone
    instants = ZONE_INSTANTS[zone]
    rows = [
        valid_row(f"z-{k}", occurred_at=i.strftime("%Y-%m-%dT%H:%M:%SZ") if as_text else i)
        for k, i in enumerate(instants)
    ]
    land(zoned, "dt=2026-03-05/zones.parquet", rows,
         types={"occurred_at": pa.string()} if as_text else None)

    out = ingest(zoned)

    expected_days = {f"z-{k}": i.astimezone(ZoneInfo(zone)).date()
                     for k, i in enumerate(instants)}
    assert {r["event_id"]: r["day"] for r in out.curated} == expected_days
    for day in set(expected_days.values()):
        table = curated_day(zoned, day)
        assert table is not None
        assert sorted(table.column("event_id").to_pylist()) == sorted(
            e for e, d in expected_days.items() if d == day)
    # the instant itself is unchanged (UTC)
    assert {r["event_id"]: r["occurred_at"] for r in out.curated} == {
        f"z-{k}": i for k, i in enumerate(instants)}
    assert_conserved(zoned, rows_landed=len(rows))


def test_dt_folder_is_only_a_hint(settings: Settings):
    at = datetime(2026, 3, 2, 10, tzinfo=UTC)
    land(settings, "dt=2026-03-01/part-0.parquet", [valid_row("hint-1", occurred_at=at)])
    out = ingest(settings)
    assert out.by_id()["hint-1"]["day"] == at.date()
    assert curated_day(settings, date(2026, 3, 1)) is None
    table = curated_day(settings, at.date())
    assert table is not None and table.column("event_id").to_pylist() == ["hint-1"]
    assert "dt" not in table.column_names


# ---------------------------------------------------------------------------------------------
# Ids are opaque (rule 9)
# ---------------------------------------------------------------------------------------------

def test_ids_are_compared_exactly(settings: Settings):
    long_a = "x" * 9_999 + "a"
    long_b = "x" * 9_999 + "b"
    ids = [
        long_a, long_b,
        "城市-αβγ",
        "e\u0301",  # e + combining acute
        "\u00e9",   # precomposed é
        "Evt-1", "evt-1", "EVT-1",
        " a", "a", "a ", "a\t",
    ]
    assert len(set(ids)) == len(ids)
    land(settings, "ids.parquet", [valid_row(i, city_id=f"city {i[-3:]}") for i in ids])
    # an identical copy of the long id, and a conflicting copy of the NFD id, in a later file
    land(settings, "z.parquet", [
        valid_row(long_a, city_id=f"city {long_a[-3:]}"),
        valid_row("e\u0301", city_id="another city"),
    ])

    out = ingest(settings)

    by_id = out.by_id()
    assert sorted(by_id) == sorted(ids)
    assert by_id["城市-αβγ"]["city_id"] == "city αβγ"
    assert len(by_id[long_a]) and by_id[long_a]["event_id"] == long_a
    assert out.reasons() == {("z.parquet", 1): "duplicate_conflict"}
    assert out.quarantine[0]["event_id"] == "e\u0301"
    assert day_loads(settings)[T0.date()]["identical"] == 1
    assert_conserved(settings, rows_landed=len(ids) + 2)


def test_city_and_user_ids_are_kept_as_landed(settings: Settings):
    rows = [valid_row("k-1", city_id=" City ", user_id="Ünïcode\u0301 ")]
    land(settings, "k.parquet", rows)
    out = ingest(settings)
    assert out.by_id()["k-1"]["city_id"] == " City "
    assert out.by_id()["k-1"]["user_id"] == "Ünïcode\u0301 "


# ---------------------------------------------------------------------------------------------
# Aliases, extra and missing columns (rule 3)
# ---------------------------------------------------------------------------------------------

def test_aliases_are_accepted(settings: Settings):
    rows = [
        {"event_id": "al-1", "occurred_at": T0, "town_id": "t-1", "model": "m-1",
         "status": "success"},
    ]
    land(settings, "alias.parquet", rows)
    out = ingest(settings)
    row = out.by_id()["al-1"]
    assert (row["city_id"], row["model_id"]) == ("t-1", "m-1")
    assert_conserved(settings, rows_landed=1)


def test_canonical_column_wins_over_alias(settings: Settings):
    rows = [
        {"event_id": "both-1", "occurred_at": T0, "city_id": "canonical-city",
         "town_id": "alias-town", "model_id": "canonical-model", "model": "alias-model",
         "status": "success"},
    ]
    land(settings, "both.parquet", rows)
    out = ingest(settings)
    row = out.by_id()["both-1"]
    assert (row["city_id"], row["model_id"]) == ("canonical-city", "canonical-model")


def test_extra_columns_ignored_and_missing_optional_columns_null(settings: Settings):
    rows = [
        {"event_id": "min-1", "occurred_at": T0, "city_id": "c", "status": "error",
         "region": "eu", "tokens_total": 5, "nested_note": "x"},
        {"event_id": "min-2", "occurred_at": T0, "city_id": "c", "status": "success",
         "region": None, "tokens_total": None, "nested_note": None},
    ]
    land(settings, "min.parquet", rows, types={"tokens_total": pa.int64()})
    out = ingest(settings)
    table = curated_day(settings, T0.date())
    assert table is not None
    assert table.schema.names == CURATED_SCHEMA.names
    assert [(f.name, f.type) for f in table.schema] == [
        (f.name, f.type) for f in CURATED_SCHEMA]
    for r in out.curated:
        for column in ("user_id", "service", "model_id", "provider", "error", "latency_ms",
                       "cost_credits", "metadata_json"):
            assert r[column] is None, column
        for column in ("input_tokens", "output_tokens", "cached_input_tokens",
                       "reasoning_tokens"):
            assert r[column] == 0, column
    assert out.accepted_ids() == ["min-1", "min-2"]
    assert_conserved(settings, rows_landed=2)


def test_optional_columns_kept_as_landed(settings: Settings):
    meta = '{"b": 1,  "a": [1, 2]}'
    row = valid_row("full-1", provider="openai", error=None, cost_credits=1234,
                    metadata_json=meta, cached_input_tokens=None, reasoning_tokens=7)
    land(settings, "full.parquet", [row])
    out = ingest(settings)
    got = out.by_id()["full-1"]
    for column in ("city_id", "user_id", "service", "model_id", "provider", "status",
                   "input_tokens", "output_tokens", "reasoning_tokens", "latency_ms",
                   "cost_credits", "metadata_json"):
        assert got[column] == row[column], column
    assert got["cached_input_tokens"] == 0
    assert got["source_file"] == "full.parquet" and got["source_row"] == 0


# ---------------------------------------------------------------------------------------------
# Downcity export shape (rule 4)
# ---------------------------------------------------------------------------------------------

def iso_ms(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def downcity_rows(city_column: str) -> tuple[list[dict[str, Any]], dict[str, float | None]]:
    start = datetime(2026, 3, 5, 10, 0, 0, 250000, tzinfo=UTC)
    end = start + timedelta(seconds=1, milliseconds=500)
    metadata: dict[str, str | None] = {
        "iso-snake": json.dumps({"started_at": iso_ms(start), "ended_at": iso_ms(end)}),
        "iso-camel": json.dumps({"startedAt": iso_ms(start), "endedAt": iso_ms(end)}),
        "ms-snake": json.dumps({"started_at": epoch_ms(start), "ended_at": epoch_ms(end)}),
        "ms-camel": json.dumps({"startedAt": epoch_ms(start), "endedAt": epoch_ms(end),
                                "other": {"x": 1}}),
        "iso-offset": json.dumps({"started_at": "2026-03-05T15:30:00+05:30",
                                  "ended_at": "2026-03-05T10:00:02Z"}),
        "only-start": json.dumps({"started_at": iso_ms(start)}),
        "malformed": "{not json",
        "array": "[1, 2, 3]",
        "empty": "",
        "null": None,
    }
    expected_latency: dict[str, float | None] = {
        "iso-snake": (end - start) / timedelta(milliseconds=1),
        "iso-camel": (end - start) / timedelta(milliseconds=1),
        "ms-snake": float(epoch_ms(end) - epoch_ms(start)),
        "ms-camel": float(epoch_ms(end) - epoch_ms(start)),
        "iso-offset": 2000.0,
        "only-start": None,
        "malformed": None,
        "array": None,
        "empty": None,
        "null": None,
    }
    rows = [
        {"event_id": f"dc-{name}", city_column: "town-7", "user_id": "u-1",
         "service": "chat", "model_id": "m-1", "status": "success",
         "metadata_json": meta, "created_at": iso_ms(start + timedelta(minutes=k))}
        for k, (name, meta) in enumerate(metadata.items())
    ]
    return rows, {f"dc-{k}": v for k, v in expected_latency.items()}


@pytest.mark.parametrize("city_column", ["town_id", "city_id"])
def test_downcity_export_shape_is_accepted(settings: Settings, city_column: str):
    rows, latency = downcity_rows(city_column)
    land(settings, "downcity/service_usage_events.parquet", rows,
         types={"created_at": pa.string()})

    out = ingest(settings)

    assert out.quarantine == []
    by_id = out.by_id()
    assert sorted(by_id) == sorted(latency)
    for row in rows:
        got = by_id[row["event_id"]]
        created = datetime.fromisoformat(row["created_at"].replace("Z", "+00:00"))
        assert got["occurred_at"] == created
        assert got["city_id"] == "town-7"
        assert got["metadata_json"] == row["metadata_json"]
        expected = latency[row["event_id"]]
        if expected is None:
            assert got["latency_ms"] is None, row["event_id"]
        else:
            assert got["latency_ms"] == pytest.approx(expected), row["event_id"]
        assert got["input_tokens"] == 0
    assert_conserved(settings, rows_landed=len(rows))


def test_downcity_rows_are_validated_like_any_other(settings: Settings):
    base = {"user_id": "u", "service": "chat", "model_id": "m", "metadata_json": "{}",
            "town_id": "t"}
    rows = [
        {**base, "event_id": "d-ok", "status": "success", "created_at": "2026-03-05T10:00:00Z"},
        {**base, "event_id": "d-time", "status": "success", "created_at": "yesterday"},
        {**base, "event_id": "d-nulltime", "status": "success", "created_at": None},
        {**base, "event_id": "d-status", "status": "done", "created_at": "2026-03-05T10:00:00Z"},
        {**base, "event_id": "d-neg", "status": "error", "created_at": "2026-03-05T10:00:00Z",
         "metadata_json": json.dumps({"started_at": 2000, "ended_at": 1000})},
    ]
    land(settings, "dc.parquet", rows, types={"created_at": pa.string()})
    out = ingest(settings)
    assert out.reasons() == {
        ("dc.parquet", 1): "bad_timestamp",
        ("dc.parquet", 2): "missing_occurred_at",
        ("dc.parquet", 3): "bad_status",
        ("dc.parquet", 4): "negative_value",
    }
    assert out.accepted_ids() == ["d-ok"]
    assert json.loads(out.quarantine[0]["raw_json"])["created_at"] == "yesterday"
    assert_conserved(settings, rows_landed=len(rows))


# ---------------------------------------------------------------------------------------------
# Which files are read (rule 8)
# ---------------------------------------------------------------------------------------------

def test_only_parquet_and_never_hidden_or_underscore_names(settings: Settings):
    land(settings, "good.parquet", [valid_row("visible-1")])
    land(settings, "deep/er/still/good.parquet", [valid_row("visible-2")])
    ignored = {
        "_SUCCESS": [valid_row("hidden-success")],
        ".upload.parquet": [valid_row("hidden-dot")],
        "_tmp/x.parquet": [valid_row("hidden-tmp-dir")],
        ".staging/y.parquet": [valid_row("hidden-dot-dir")],
        "dt=2026-03-05/_part.parquet": [valid_row("hidden-underscore")],
        "a/.b/c.parquet": [valid_row("hidden-nested")],
        "data.csv": [valid_row("not-parquet-1")],
        "x.parquet.tmp": [valid_row("not-parquet-2")],
        "x.parq": [valid_row("not-parquet-3")],
    }
    for relative, rows in ignored.items():
        land(settings, relative, rows)
    (settings.usage_landing / "_SUCCESS.parquet").write_bytes(b"")
    (settings.usage_landing / "folder.parquet").mkdir()

    out = ingest(settings)

    assert out.accepted_ids() == ["visible-1", "visible-2"]
    assert out.quarantine == []
    assert sorted(out.scan.new_files) == ["deep/er/still/good.parquet", "good.parquet"]
    assert_conserved(settings, rows_landed=2)


# ---------------------------------------------------------------------------------------------
# Idempotence (invariant 2)
# ---------------------------------------------------------------------------------------------

def _index_rows(conn, settings: Settings) -> list[tuple]:
    id_index.install_view(conn, settings)
    return conn.execute("SELECT * FROM usage_event_index ORDER BY ALL").fetchall()


def _warehouse_state(settings: Settings) -> dict[str, list[tuple]]:
    with connect(settings.warehouse) as conn:
        return {
            "files": conn.execute(
                "SELECT path, size_bytes, mtime_ns, fingerprint, status, rows_read, rows_valid, "
                "rows_invalid, min_day, max_day FROM usage_files ORDER BY path").fetchall(),
            "index": _index_rows(conn, settings),
            "quarantine": conn.execute(
                "SELECT source_file, source_row, event_id, day, reason, detail, raw_json, "
                "row_count FROM usage_quarantine ORDER BY ALL").fetchall(),
            "loads": conn.execute(
                "SELECT day, rows_indexed, accepted, identical_duplicates, conflicts "
                "FROM usage_day_loads ORDER BY day").fetchall(),
        }


def _sorted_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r["event_id"], r["source_file"], r["source_row"]))


def _mixed_landing(settings: Settings) -> int:
    land(settings, "a.parquet", [valid_row("i-1"), valid_row("i-2", status="bad"),
                                 valid_row("i-3", occurred_at=T0 + timedelta(days=1))])
    land(settings, "b.parquet", [valid_row("i-1"), valid_row("i-3", input_tokens=999,
                                                            occurred_at=T0 + timedelta(days=1))])
    land(settings, "c.parquet", b"not parquet")
    return 5


def test_scanning_twice_changes_nothing_and_rebuild_is_identical(settings: Settings):
    landed = _mixed_landing(settings)
    first = ingest(settings)
    state = _warehouse_state(settings)
    days = sorted({r["day"] for r in first.curated})
    tables = {d: curated_day(settings, d) for d in days}

    second = ingest(settings)

    assert (second.scan.new_files, second.scan.changed_files, second.scan.removed_files) == (
        [], [], [])
    assert second.scan.rows_read == 0
    assert _warehouse_state(settings) == state
    for d in days:
        again = curated_day(settings, d)
        assert again is not None and again.sort_by("event_id").equals(
            tables[d].sort_by("event_id"))
    assert _sorted_rows(second.curated) == _sorted_rows(first.curated)
    assert_conserved(settings, rows_landed=landed)


def test_file_rewritten_in_place_replaces_its_rows_and_quarantine(settings: Settings):
    old_day = T0
    new_day = T0 + timedelta(days=2)
    land(settings, "keep.parquet", [valid_row("keep-1")])
    land(settings, "rw.parquet", [valid_row("old-1", occurred_at=old_day),
                                  valid_row("old-bad", occurred_at=old_day, status="nope")])
    first = ingest(settings)
    assert first.accepted_ids() == ["keep-1", "old-1"]
    assert first.reasons() == {("rw.parquet", 1): "bad_status"}

    land(settings, "rw.parquet", [valid_row("new-bad", occurred_at=new_day, city_id=""),
                                  valid_row("new-1", occurred_at=new_day),
                                  valid_row("new-2", occurred_at=new_day)])
    # rebuild only what the scan reports as touched: the old day must be among them
    second = ingest(settings, only_touched=True)

    assert second.scan.changed_files == ["rw.parquet"]
    assert {old_day.date(), new_day.date()} <= second.scan.days_touched
    assert second.accepted_ids() == ["keep-1", "new-1", "new-2"]
    assert second.reasons() == {("rw.parquet", 0): "missing_city_id"}
    assert second.by_id()["new-1"]["source_row"] == 1
    assert_conserved(settings, rows_landed=4)


def test_file_rewritten_as_corrupt_drops_its_rows(settings: Settings):
    land(settings, "rw.parquet", [valid_row("gone-1"), valid_row("gone-2")])
    land(settings, "other.parquet", [valid_row("stay-1")])
    ingest(settings)
    land(settings, "rw.parquet", b"\x00garbage")
    out = ingest(settings, only_touched=True)
    assert out.accepted_ids() == ["stay-1"]
    assert out.reasons() == {("rw.parquet", None): "unreadable_file"}
    assert_conserved(settings, rows_landed=1)


def test_deleted_file_rows_and_quarantine_disappear(settings: Settings):
    land(settings, "a.parquet", [valid_row("del-1", output_tokens=1)])
    doomed = land(settings, "b.parquet", [valid_row("del-2"), valid_row("del-bad", status="x"),
                                          valid_row("del-1", output_tokens=2)])
    first = ingest(settings)
    assert first.accepted_ids() == ["del-1", "del-2"]
    assert set(first.reasons().values()) == {"bad_status", "duplicate_conflict"}

    doomed.unlink()
    second = ingest(settings, only_touched=True)

    assert second.scan.removed_files == ["b.parquet"]
    assert second.accepted_ids() == ["del-1"]
    assert second.quarantine == []
    assert_conserved(settings, rows_landed=1)


def test_deleting_the_winner_promotes_the_next_copy(settings: Settings):
    winner = land(settings, "a.parquet", [valid_row("p-1", output_tokens=1)])
    land(settings, "b.parquet", [valid_row("p-1", output_tokens=2)])
    ingest(settings)
    winner.unlink()
    out = ingest(settings, only_touched=True)
    assert out.by_id()["p-1"]["output_tokens"] == 2
    assert out.quarantine == []
    assert_conserved(settings, rows_landed=1)


# ---------------------------------------------------------------------------------------------
# Errors count (rule 10)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("record_errors", [True, False])
def test_error_calls_count_in_summaries(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, record_errors: bool
):
    monkeypatch.setenv("CITY_USAGE_RECORD_ERRORS", "true" if record_errors else "false")
    cfg = Settings.from_env()
    rows = [
        valid_row("s-1", input_tokens=10, output_tokens=1),
        valid_row("s-2", input_tokens=20, output_tokens=2, status="error", error="timeout"),
        valid_row("s-3", input_tokens=None, output_tokens=4, status="error"),
    ]
    land(cfg, "err.parquet", rows)
    ingest(cfg)
    counted = [r for r in rows if record_errors or r["status"] != "error"]
    with connect(cfg.warehouse) as conn:
        build_daily(conn, cfg, [T0.date()])
        got = conn.execute(
            "SELECT calls, error_calls, input_tokens, output_tokens FROM usage_daily_by_city "
            "WHERE day = $d AND city_id = 'city-1'", {"d": T0.date()}).fetchall()
    assert got == [(
        len(counted),
        sum(r["status"] == "error" for r in counted),
        sum(r["input_tokens"] or 0 for r in counted),
        sum(r["output_tokens"] or 0 for r in counted),
    )]



# ---------------------------------------------------------------------------------------------
# A change to one file can move the winner of an event_id whose other copy is on another day:
# the scan must report that other day as touched, or rebuilding the touched days (what the
# sensor and a partition run do) leaves two copies, or none.
# ---------------------------------------------------------------------------------------------

def test_late_first_sorting_file_touches_the_day_of_the_old_winner(settings: Settings):
    old_day, new_day = T0 + timedelta(days=1), T0
    land(settings, "b/x.parquet", [valid_row("late-1", occurred_at=old_day)])
    ingest(settings)
    land(settings, "a/x.parquet", [valid_row("late-1", occurred_at=new_day)])

    out = ingest(settings, only_touched=True)

    assert old_day.date() in out.scan.days_touched
    copies = [(r["day"], r["source_file"]) for r in out.curated if r["event_id"] == "late-1"]
    assert copies == [(new_day.date(), "a/x.parquet")]
    assert out.reasons() == {("b/x.parquet", 0): "duplicate_conflict"}


def test_removed_winner_touches_the_day_of_the_quarantined_copy(settings: Settings):
    winner_day, loser_day = T0, T0 + timedelta(days=1)
    winner = land(settings, "a/x.parquet", [valid_row("gone-w", occurred_at=winner_day)])
    land(settings, "b/x.parquet", [valid_row("gone-w", occurred_at=loser_day)])
    ingest(settings)
    winner.unlink()

    out = ingest(settings, only_touched=True)

    assert loser_day.date() in out.scan.days_touched
    copies = [(r["day"], r["source_file"]) for r in out.curated if r["event_id"] == "gone-w"]
    assert copies == [(loser_day.date(), "b/x.parquet")]
    assert out.quarantine == []
