"""Every rejection path of landed Downcity files, with real Parquet (and garbage) files.

Each case lands one good file plus one bad file (or a file mixing good and bad rows) and
asserts the `downcity_rejects` row (file, row, reason, a detail naming both) and that the
good rows still load.
"""

from __future__ import annotations

import json
from decimal import Decimal

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from usage_model.config import Settings
from usage_model.funding import downcity
from usage_model.warehouse import connect

GOOD = {"topup_id": "good-1", "user_id": "u-good", "amount": 5_000_000, "unit": "credits",
        "status": "paid", "created_at": "2026-11-20T10:00:00Z",
        "updated_at": "2026-11-20T10:05:00Z"}


def land(settings: Settings, folder: str, name: str, table: pa.Table | bytes) -> str:
    """Write a file under landing/balance/<folder>/; return its path relative to balance/."""
    path = settings.balance_landing / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(table, bytes):
        path.write_bytes(table)
    else:
        pq.write_table(table, path)
    return f"{folder}/{name}"


def topups_table(rows: list[dict], types: dict[str, pa.DataType] | None = None) -> pa.Table:
    """A Downcity-shaped topups table; `types` pins column types (float, decimal, string...)."""
    columns = list(GOOD)
    for row in rows:
        columns += [c for c in row if c not in columns]
    full = [{c: row.get(c, GOOD.get(c)) for c in columns} for row in rows]
    schema = pa.schema([(c, (types or {}).get(c) or pa.table({c: [r[c] for r in full]})
                         .schema.field(c).type) for c in columns])
    return pa.Table.from_pylist(full, schema=schema)


def load(settings: Settings) -> tuple[dict, list[tuple], list[tuple], list[str]]:
    with connect(settings.warehouse) as conn:
        results = downcity.load(conn, settings.balance_landing)
        rejects = conn.execute(
            "SELECT source_file, source_row, reason, detail, raw_json FROM downcity_rejects "
            "ORDER BY source_file, source_row").fetchall()
        topups = conn.execute("SELECT topup_id, user_id, amount, status FROM downcity_topups "
                              "ORDER BY topup_id").fetchall()
        payments = [r[0] for r in conn.execute(
            "SELECT payment_id FROM downcity_payments ORDER BY payment_id").fetchall()]
    return results, rejects, topups, payments


GOOD_ROW = ("good-1", "u-good", 5_000_000, "paid")

ROW_CASES = {
    "null topup_id": ({"topup_id": None}, {"topup_id": pa.string()}, "missing_topup_id"),
    "empty topup_id": ({"topup_id": ""}, None, "missing_topup_id"),
    "null user_id": ({"user_id": None}, {"user_id": pa.string()}, "missing_user_id"),
    "text amount": ({"amount": "12abc"}, {"amount": pa.string()}, "bad_amount"),
    "fractional credits": ({"amount": 1.5}, {"amount": pa.float64()}, "bad_amount"),
    "NaN amount": ({"amount": float("nan")}, {"amount": pa.float64()}, "bad_amount"),
    "fractional decimal": ({"amount": Decimal("10.25")}, {"amount": pa.decimal128(12, 2)},
                           "bad_amount"),
    "boolean amount": ({"amount": True}, {"amount": pa.bool_()}, "bad_amount"),
    "null amount": ({"amount": None}, {"amount": pa.int64()}, "bad_amount"),
    "negative amount": ({"amount": -1_000_000}, None, "non_positive_amount"),
    "zero amount": ({"amount": 0}, None, "non_positive_amount"),
    "negative text amount": ({"amount": "-5"}, {"amount": pa.string()}, "non_positive_amount"),
    "unit in dollars": ({"unit": "usd"}, None, "bad_unit"),
    "unknown status": ({"status": "weird"}, None, "bad_status"),
    "null status": ({"status": None}, {"status": pa.string()}, "bad_status"),
}


@pytest.mark.parametrize("case", list(ROW_CASES))
def test_bad_row_is_rejected_with_file_row_and_reason_and_good_rows_load(settings, case):
    change, types, reason = ROW_CASES[case]
    bad = {**GOOD, "topup_id": "bad-1", **change}
    land(settings, "topups", "a-good.parquet", topups_table([GOOD]))
    rel = land(settings, "topups", "dt=2026-11-20/part-0.parquet", topups_table([bad], types))
    results, rejects, topups, _ = load(settings)
    assert topups == [GOOD_ROW]
    assert [(f, r, why) for f, r, why, _, _ in rejects] == [(rel, 0, reason)]
    detail, raw = rejects[0][3], json.loads(rejects[0][4])
    assert detail.startswith(f"{rel} row 0: ") and "\n" not in detail
    assert raw["topup_id"] == bad["topup_id"]  # the whole row is kept, nothing lost
    assert (results["topups"].rows, results["topups"].loaded,
            results["topups"].rejected) == (2, 1, 1)


def test_bad_rows_among_good_ones_name_their_row(settings):
    rows = [{**GOOD, "topup_id": f"t{i}", "amount": a}
            for i, a in enumerate([2e6, 1.5, 3e6, -4e6, 5e6])]
    rel = land(settings, "topups", "mixed.parquet", topups_table(rows, {"amount": pa.float64()}))
    _, rejects, topups, _ = load(settings)
    assert [(f, r, why) for f, r, why, _, _ in rejects] == [
        (rel, 1, "bad_amount"), (rel, 3, "non_positive_amount")]
    assert [(t[0], t[2]) for t in topups] == [("t0", 2_000_000), ("t2", 3_000_000),
                                              ("t4", 5_000_000)]


ACCEPTED_AMOUNTS = {
    "integral float": (2_000_000.0, pa.float64()),
    "integral decimal": (Decimal("2000000"), pa.decimal128(18, 0)),
    "digits as text": ("2000000", pa.string()),
    "int32": (2_000_000, pa.int32()),
}


@pytest.mark.parametrize("case", list(ACCEPTED_AMOUNTS))
def test_integral_amounts_of_any_type_load_as_integers(settings, case):
    value, kind = ACCEPTED_AMOUNTS[case]
    land(settings, "topups", "part-0.parquet",
         topups_table([{**GOOD, "amount": value}], {"amount": kind}))
    _, rejects, topups, _ = load(settings)
    assert rejects == []
    assert topups == [("good-1", "u-good", 2_000_000, "paid")]
    assert type(topups[0][2]) is int


def _valid_parquet_bytes() -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(topups_table([{**GOOD, "topup_id": f"t{i}"} for i in range(50)]), sink)
    return sink.getvalue().to_pybytes()


FILE_CASES = {
    "garbage bytes": lambda: b"topup_id,amount\nt1,100\n",
    "zero bytes": lambda: b"",
    "truncated parquet": lambda: _valid_parquet_bytes()[: len(_valid_parquet_bytes()) // 2],
}


@pytest.mark.parametrize("folder", ["topups", "payments"])
@pytest.mark.parametrize("case", list(FILE_CASES))
def test_unreadable_file_is_one_reject_and_the_good_file_loads(settings, folder, case):
    land(settings, "topups", "a-good.parquet", topups_table([GOOD]))
    land(settings, "payments", "a-good.parquet", pa.table({"payment_id": ["pay-1"],
                                                           "currency": ["usd"]}))
    rel = land(settings, folder, "b-bad.parquet", FILE_CASES[case]())
    _, rejects, topups, payments = load(settings)
    assert [(f, r, why) for f, r, why, _, _ in rejects] == [(rel, None, "unreadable_file")]
    assert rejects[0][3].startswith(f"{rel}: not a readable Parquet file")
    assert "\n" not in rejects[0][3]
    assert topups == [GOOD_ROW] and payments == ["pay-1"]


@pytest.mark.parametrize("dropped", ["topup_id", "user_id", "amount", "status"])
def test_topups_file_missing_a_required_column_is_schema_mismatch(settings, dropped):
    land(settings, "topups", "a-good.parquet", topups_table([GOOD]))
    bad = topups_table([{**GOOD, "topup_id": f"t{i}"} for i in range(3)]).drop_columns([dropped])
    rel = land(settings, "topups", "b-old-export.parquet", bad)
    _, rejects, topups, _ = load(settings)
    assert [(f, r, why) for f, r, why, _, _ in rejects] == [(rel, None, "schema_mismatch")]
    assert rejects[0][3] == f"{rel}: missing column(s) {dropped} (3 rows)"
    assert topups == [GOOD_ROW]


def test_payments_file_without_an_id_column_is_schema_mismatch(settings):
    land(settings, "payments", "a.parquet", pa.table({"payment_id": ["pay-1"]}))
    rel = land(settings, "payments", "b.parquet", pa.table({"amount": [100, 200]}))
    _, rejects, _, payments = load(settings)
    assert [(f, r, why) for f, r, why, _, _ in rejects] == [(rel, None, "schema_mismatch")]
    assert rejects[0][3] == f"{rel}: missing column payment_id (or id) (2 rows)"
    assert payments == ["pay-1"]


def test_payment_rows_without_an_id_are_rejected_per_row(settings):
    rel = land(settings, "payments", "p.parquet",
               pa.table({"payment_id": ["pay-1", None, "", "pay-2"],
                         "currency": ["usd", "usd", "eur", "usd"]}))
    _, rejects, _, payments = load(settings)
    assert [(f, r, why) for f, r, why, _, _ in rejects] == [
        (rel, 1, "missing_payment_id"), (rel, 2, "missing_payment_id")]
    assert payments == ["pay-1", "pay-2"]


def test_ignored_names_are_neither_loaded_nor_rejected(settings):
    land(settings, "topups", "part-0.parquet", topups_table([GOOD]))
    for name in ("_SUCCESS", ".part-1.parquet", "_tmp.parquet", "export.csv"):
        land(settings, "topups", name, b"not parquet")
    _, rejects, topups, _ = load(settings)
    assert rejects == [] and topups == [GOOD_ROW]


def test_rejects_are_rebuilt_not_accumulated_and_a_fixed_file_loads(settings):
    rel = land(settings, "topups", "part-0.parquet",
               topups_table([GOOD, {**GOOD, "topup_id": "bad-1", "amount": -1}]))
    load(settings)
    _, rejects, _, _ = load(settings)
    assert [(f, r, why) for f, r, why, _, _ in rejects] == [(rel, 1, "non_positive_amount")]
    land(settings, "topups", "part-0.parquet",
         topups_table([GOOD, {**GOOD, "topup_id": "bad-1", "amount": 7}]))
    _, rejects, topups, _ = load(settings)
    assert rejects == [] and [t[0] for t in topups] == ["bad-1", "good-1"]


def test_rejects_reach_the_asset_metadata_through_dagster(settings, dagster_instance):
    from assets.balance import downcity_topups
    from pipelines.resources import build_resources

    land(settings, "topups", "a.parquet",
         topups_table([GOOD, {**GOOD, "topup_id": "bad-1", "status": "weird"}]))
    land(settings, "payments", "b.parquet", b"\x00garbage")
    result = dg.materialize([downcity_topups], instance=dagster_instance,
                            resources=build_resources())
    assert result.success
    meta = result.asset_materializations_for_node("downcity_topups")[0].metadata
    assert meta["topups_rows"].value == 2
    assert meta["topups_rejected"].value == 1
    assert meta["payments_rejected"].value == 1
    _, rejects, topups, _ = load(settings)
    assert [(r[0], r[2]) for r in rejects] == [("payments/b.parquet", "unreadable_file"),
                                               ("topups/a.parquet", "bad_status")]
    assert topups == [GOOD_ROW]


def test_latest_export_row_wins_per_topup(settings):
    """Not a rejection: a later export of the same topup replaces the earlier one."""
    land(settings, "topups", "a.parquet", topups_table([{**GOOD, "status": "pending"}]))
    land(settings, "topups", "b.parquet", topups_table([
        {**GOOD, "status": "paid", "updated_at": "2026-11-20T11:00:00Z"}]))
    land(settings, "topups", "c.parquet", topups_table([
        {**GOOD, "status": "pending", "updated_at": "2026-11-20T09:00:00Z"}]))
    _, rejects, topups, _ = load(settings)
    assert rejects == [] and topups == [GOOD_ROW]
