"""Landing Downcity's exports: the current shape lands cleanly, older shapes are accepted, and
every rejection path keeps the row or file in `downcity_rejects` with a one-line reason.

Each rejection case lands one good file plus one bad file (or a file mixing good and bad rows)
and asserts the `downcity_rejects` row (file, row, reason, a detail naming file, row and key)
and that the good rows still load. All files are real Parquet files.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.funding.downcity_shapes import (
    COLUMNS,
    account,
    current_table,
    ledger,
    payment,
    topup,
    write,
)
from usage_model.config import Settings
from usage_model.funding import downcity
from usage_model.warehouse import connect

GOOD = {
    "topups": topup("topup_good", "u-good", 5_000_000),
    "payments": payment("pay_" + "a" * 32, "topup_good", "u-good", 5_000_000),
    "ledger": ledger("bal_topup:topup_good", "u-good", "topup", 5_000_000, 5_000_000,
                     ref="topup_good"),
    "accounts": account("u-good", 5_000_000),
    "charges": {"charge_id": "chg_good", "user_id": "u-good", "credits": 1_000,
                "status": "settled"},
}
KEYS = {"topups": "topup_id", "payments": "payment_id", "ledger": "entry_id",
        "accounts": "user_id", "charges": "charge_id"}


def load(settings: Settings) -> tuple[dict, list[tuple]]:
    with connect(settings.warehouse) as conn:
        results = downcity.load(conn, settings.balance_landing)
        rejects = conn.execute(
            "SELECT source_file, source_row, reason, detail, raw_json FROM downcity_rejects "
            "ORDER BY source_file, source_row").fetchall()
    return results, rejects


def keys(settings: Settings, folder: str) -> list[str]:
    with connect(settings.warehouse, read_only=True) as conn:
        return [r[0] for r in conn.execute(
            f"SELECT {KEYS[folder]} FROM downcity_{folder} ORDER BY 1").fetchall()]


def typed(folder: str, rows: list[dict], types: dict[str, pa.DataType]) -> pa.Table:
    """The current shape with some columns retyped (float credits, null ids, ...)."""
    base = current_table(folder, [{k: v for k, v in r.items() if k not in types} for r in rows])
    for name, kind in types.items():
        column = pa.array([r.get(name) for r in rows], kind)
        index = base.schema.get_field_index(name)
        base = base.set_column(index, pa.field(name, kind), column) if index >= 0 \
            else base.append_column(pa.field(name, kind), column)  # an older column (unit)
    return base


def test_a_current_export_of_every_table_lands_with_zero_rejections(settings):
    for folder, row in GOOD.items():
        write(settings.balance_landing, folder, current_table(folder, [row]))
        assert pq.read_schema(settings.balance_landing / folder / "part-0.parquet").names == \
            list(COLUMNS[folder])
    results, rejects = load(settings)
    assert rejects == []
    assert {k: (r.files, r.rows, r.loaded, r.rejected) for k, r in results.items()} == {
        k: (1, 1, 1, 0) for k in GOOD}
    with connect(settings.warehouse, read_only=True) as conn:
        assert conn.execute("SELECT topup_id, credits, status, ref, created_at FROM "
                            "downcity_topups").fetchall() == [
            ("topup_good", 5_000_000, "paid", "", datetime(2026, 11, 20, 10, tzinfo=UTC))]
        assert conn.execute("SELECT entry_id, kind, credits_delta, credits_after, ref FROM "
                            "downcity_ledger").fetchall() == [
            ("bal_topup:topup_good", "topup", 5_000_000, 5_000_000, "topup_good")]
        assert conn.execute("SELECT payment_id, credits, amount_minor, currency, status, "
                            "provider_session_id FROM downcity_payments").fetchall() == [
            ("pay_" + "a" * 32, 5_000_000, 500, "usd", "paid", "")]
        assert conn.execute("SELECT user_id, credits FROM downcity_accounts").fetchall() == [
            ("u-good", 5_000_000)]
        assert conn.execute("SELECT charge_id, credits FROM downcity_charges").fetchall() == [
            ("chg_good", 1_000)]


def test_canceled_and_cancelled_are_one_state(settings):
    write(settings.balance_landing, "topups", current_table("topups", [
        topup("t1", "u1", 1_000_000, "canceled"), topup("t2", "u1", 1_000_000, "cancelled"),
        topup("t3", "u1", 1_000_000, "Cancelled")]))
    _, rejects = load(settings)
    assert rejects == []
    with connect(settings.warehouse, read_only=True) as conn:
        assert conn.execute("SELECT DISTINCT status FROM downcity_topups").fetchall() == [
            ("canceled",)]


def test_older_shapes_are_accepted(settings):
    """Before mid-2026: `amount`/`unit`, `town_id`, `balance_after`, `id`, typed timestamps,
    camelCase metadata keys."""
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    write(settings.balance_landing, "topups", pa.Table.from_pylist([
        {"topup_id": "old-1", "user_id": "u1", "town_id": "town-9", "amount": 2_000_000,
         "unit": "credits", "status": "cancelled", "note": None, "ref": None,
         "metadata_json": json.dumps({"paymentId": "p1"}), "created_at": at,
         "updated_at": at.replace(tzinfo=None)}]))
    write(settings.balance_landing, "ledger", pa.Table.from_pylist([
        {"entry_id": "e1", "user_id": "u1", "kind": "topup", "amount": 2_000_000,
         "balance_after": 2_000_000, "unit": "credits", "ref": "old-1",
         "metadata_json": json.dumps({"topupId": "old-1"}), "created_at": at}]))
    write(settings.balance_landing, "payments", pa.Table.from_pylist([
        {"id": "p1", "topup_id": "old-1", "amount": 200, "currency": "usd"}]))
    write(settings.balance_landing, "accounts", pa.Table.from_pylist([
        {"user_id": "u1", "balance": 2_000_000, "unit": "credits"}]))
    _, rejects = load(settings)
    assert rejects == []
    with connect(settings.warehouse, read_only=True) as conn:
        assert conn.execute("SELECT topup_id, credits, status, created_at, updated_at FROM "
                            "downcity_topups").fetchall() == [("old-1", 2_000_000, "canceled",
                                                               at, at)]
        assert conn.execute("SELECT credits_delta, credits_after FROM downcity_ledger"
                            ).fetchall() == [(2_000_000, 2_000_000)]
        assert conn.execute("SELECT payment_id, amount_minor FROM downcity_payments"
                            ).fetchall() == [("p1", 200)]
        assert conn.execute("SELECT credits FROM downcity_accounts").fetchall() == [
            (2_000_000,)]
    assert downcity.metadata(json.dumps({"topupId": "x", "admin_id": "a"})) == {
        "topup_id": "x", "admin_id": "a"}
    assert downcity.metadata("") == {} and downcity.metadata("not json") == {}


_TEXT = pa.string()
ROW_CASES = {
    # (folder, change, retyped columns, reason)
    "empty topup_id": ("topups", {"topup_id": ""}, {}, "missing_topup_id"),
    "null topup_id": ("topups", {"topup_id": None}, {"topup_id": _TEXT}, "missing_topup_id"),
    "empty payment_id": ("payments", {"payment_id": ""}, {}, "missing_payment_id"),
    "empty entry_id": ("ledger", {"entry_id": ""}, {}, "missing_entry_id"),
    "empty charge_id": ("charges", {"charge_id": ""}, {}, "missing_charge_id"),
    "topup without user": ("topups", {"user_id": ""}, {}, "missing_user_id"),
    "ledger entry without user": ("ledger", {"user_id": ""}, {}, "missing_user_id"),
    "charge without user": ("charges", {"user_id": ""}, {}, "missing_user_id"),
    "account without user": ("accounts", {"user_id": ""}, {}, "missing_user_id"),
    "text credits": ("topups", {"credits": "12abc"}, {"credits": _TEXT}, "bad_credits"),
    "fractional credits": ("topups", {"credits": 1.5}, {"credits": pa.float64()},
                           "bad_credits"),
    "NaN credits": ("topups", {"credits": float("nan")}, {"credits": pa.float64()},
                    "bad_credits"),
    "fractional decimal": ("topups", {"credits": Decimal("10.25")},
                           {"credits": pa.decimal128(12, 2)}, "bad_credits"),
    "boolean credits": ("topups", {"credits": True}, {"credits": pa.bool_()}, "bad_credits"),
    "null credits": ("topups", {"credits": None}, {"credits": pa.int64()}, "bad_credits"),
    "account credits as text": ("accounts", {"credits": "lots"}, {"credits": _TEXT},
                                "bad_credits"),
    "negative topup": ("topups", {"credits": -1_000_000}, {}, "non_positive_credits"),
    "zero topup": ("topups", {"credits": 0}, {}, "non_positive_credits"),
    "negative text topup": ("topups", {"credits": "-5"}, {"credits": _TEXT},
                            "non_positive_credits"),
    "zero payment": ("payments", {"credits": 0}, {}, "non_positive_credits"),
    "negative charge": ("charges", {"credits": -3}, {}, "non_positive_credits"),
    "fractional delta": ("ledger", {"credits_delta": 0.5}, {"credits_delta": pa.float64()},
                         "bad_credits_delta"),
    "text balance after": ("ledger", {"credits_after": "x"}, {"credits_after": _TEXT},
                           "bad_credits_after"),
    "fractional amount_minor": ("payments", {"amount_minor": 1.25},
                                {"amount_minor": pa.float64()}, "bad_amount_minor"),
    "unit in dollars": ("topups", {"unit": "usd"}, {"unit": _TEXT}, "bad_unit"),
    "ledger unit in dollars": ("ledger", {"unit": "usd"}, {"unit": _TEXT}, "bad_unit"),
    "unknown topup status": ("topups", {"status": "weird"}, {}, "bad_status"),
    "empty topup status": ("topups", {"status": ""}, {}, "bad_status"),
    "unknown payment status": ("payments", {"status": "lost"}, {}, "bad_status"),
    "unknown ledger kind": ("ledger", {"kind": "gift"}, {}, "bad_kind"),
    "bad created_at": ("topups", {"created_at": "20/11/2026"}, {}, "bad_timestamp"),
    "bad ledger time": ("ledger", {"created_at": "yesterday"}, {}, "bad_timestamp"),
    "bad account time": ("accounts", {"updated_at": "2026-13"}, {}, "bad_timestamp"),
}


@pytest.mark.parametrize("case", list(ROW_CASES))
def test_bad_row_is_rejected_with_file_row_key_and_reason_and_good_rows_load(settings, case):
    folder, change, types, reason = ROW_CASES[case]
    good = GOOD[folder]
    key = KEYS[folder]
    bad = {**good, **({key: "bad-1"} if key != "user_id" else {"user_id": "u-bad"}), **change}
    write(settings.balance_landing, folder, current_table(folder, [good]), "a-good.parquet")
    table = typed(folder, [bad], types)
    rel = write(settings.balance_landing, folder, table, "dt=2026-11-20/part-0.parquet")
    results, rejects = load(settings)
    assert keys(settings, folder) == [good[key]]
    assert [(f, r, why) for f, r, why, _, _ in rejects] == [(rel, 0, reason)]
    detail, raw = rejects[0][3], json.loads(rejects[0][4])
    assert detail.startswith(f"{rel} row 0: ") and "\n" not in detail
    if bad[key]:
        assert f"{key} {bad[key]}" in detail  # the key is named
    assert raw[key] == bad[key]  # the whole row is kept, nothing lost
    assert (results[folder].rows, results[folder].loaded, results[folder].rejected) == (2, 1, 1)


def test_bad_rows_among_good_ones_name_their_row(settings):
    rows = [topup(f"t{i}", "u1", a) for i, a in enumerate([2e6, 1.5, 3e6, -4e6, 5e6])]
    rel = write(settings.balance_landing, "topups",
                typed("topups", rows, {"credits": pa.float64()}), "mixed.parquet")
    _, rejects = load(settings)
    assert [(f, r, why) for f, r, why, _, _ in rejects] == [
        (rel, 1, "bad_credits"), (rel, 3, "non_positive_credits")]
    assert keys(settings, "topups") == ["t0", "t2", "t4"]


ACCEPTED_CREDITS = {
    "integral float": (2_000_000.0, pa.float64()),
    "integral decimal": (Decimal("2000000"), pa.decimal128(18, 0)),
    "digits as text": ("2000000", pa.string()),
    "int32": (2_000_000, pa.int32()),
}


@pytest.mark.parametrize("case", list(ACCEPTED_CREDITS))
def test_integral_credits_of_any_type_load_as_integers(settings, case):
    value, kind = ACCEPTED_CREDITS[case]
    write(settings.balance_landing, "topups",
          typed("topups", [{**GOOD["topups"], "credits": value}], {"credits": kind}))
    _, rejects = load(settings)
    assert rejects == []
    with connect(settings.warehouse, read_only=True) as conn:
        (credits,), = conn.execute("SELECT credits FROM downcity_topups").fetchall()
    assert credits == 2_000_000 and type(credits) is int


def _valid_parquet_bytes() -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(current_table("topups", [topup(f"t{i}", "u", 1) for i in range(50)]), sink)
    return sink.getvalue().to_pybytes()


FILE_CASES = {
    "garbage bytes": lambda: b"topup_id,amount\nt1,100\n",
    "zero bytes": lambda: b"",
    "truncated parquet": lambda: _valid_parquet_bytes()[: len(_valid_parquet_bytes()) // 2],
}


@pytest.mark.parametrize("folder", list(GOOD))
@pytest.mark.parametrize("case", list(FILE_CASES))
def test_unreadable_file_is_one_reject_and_the_good_files_load(settings, folder, case):
    for name, row in GOOD.items():
        write(settings.balance_landing, name, current_table(name, [row]), "a-good.parquet")
    rel = write(settings.balance_landing, folder, FILE_CASES[case](), "b-bad.parquet")
    _, rejects = load(settings)
    assert [(f, r, why) for f, r, why, _, _ in rejects] == [(rel, None, "unreadable_file")]
    assert rejects[0][3].startswith(f"{rel}: not a readable Parquet file")
    assert "\n" not in rejects[0][3]
    for name, row in GOOD.items():
        assert keys(settings, name) == [row[KEYS[name]]]


SCHEMA_CASES = [
    ("topups", "topup_id", "topup_id"), ("topups", "user_id", "user_id"),
    ("topups", "credits", "credits (or amount)"), ("topups", "status", "status"),
    ("payments", "payment_id", "payment_id (or id)"),
    ("ledger", "entry_id", "entry_id"), ("ledger", "kind", "kind"),
    ("ledger", "credits_delta", "credits_delta (or amount)"),
    ("accounts", "credits", "credits (or balance or amount)"),
    ("charges", "charge_id", "charge_id"),
]


@pytest.mark.parametrize(("folder", "dropped", "named"), SCHEMA_CASES)
def test_file_missing_a_required_column_is_schema_mismatch(settings, folder, dropped, named):
    write(settings.balance_landing, folder, current_table(folder, [GOOD[folder]]),
          "a-good.parquet")
    rows = [{**GOOD[folder], KEYS[folder]: f"k{i}"} for i in range(3)]
    rel = write(settings.balance_landing, folder,
                current_table(folder, rows).drop_columns([dropped]), "b-old-export.parquet")
    _, rejects = load(settings)
    assert [(f, r, why) for f, r, why, _, _ in rejects] == [(rel, None, "schema_mismatch")]
    assert rejects[0][3] == f"{rel}: missing column(s) {named} (3 rows)"
    assert keys(settings, folder) == [GOOD[folder][KEYS[folder]]]


def test_ignored_names_are_neither_loaded_nor_rejected(settings):
    write(settings.balance_landing, "topups", current_table("topups", [GOOD["topups"]]))
    for name in ("_SUCCESS", ".part-1.parquet", "_tmp.parquet", "export.csv"):
        write(settings.balance_landing, "topups", b"not parquet", name)
    _, rejects = load(settings)
    assert rejects == [] and keys(settings, "topups") == ["topup_good"]


def test_rejects_are_rebuilt_not_accumulated_and_a_fixed_file_loads(settings):
    rows = [GOOD["topups"], topup("bad-1", "u1", -1)]
    rel = write(settings.balance_landing, "topups", current_table("topups", rows))
    load(settings)
    _, rejects = load(settings)
    assert [(f, r, why) for f, r, why, _, _ in rejects] == [(rel, 1, "non_positive_credits")]
    write(settings.balance_landing, "topups",
          current_table("topups", [GOOD["topups"], topup("bad-1", "u1", 7)]))
    _, rejects = load(settings)
    assert rejects == [] and keys(settings, "topups") == ["bad-1", "topup_good"]


def test_an_older_warehouse_gets_its_downcity_tables_recreated(settings):
    with connect(settings.warehouse) as conn:
        conn.execute("DROP TABLE downcity_topups")
        conn.execute("CREATE TABLE downcity_topups (topup_id VARCHAR PRIMARY KEY, amount "
                     "BIGINT, unit VARCHAR, source_file VARCHAR)")
    write(settings.balance_landing, "topups", current_table("topups", [GOOD["topups"]]))
    _, rejects = load(settings)
    assert rejects == [] and keys(settings, "topups") == ["topup_good"]


def test_rejects_reach_the_asset_metadata_through_dagster(settings, dagster_instance):
    from assets.funding.assets import downcity_topups
    from pipelines.resources import build_resources

    write(settings.balance_landing, "topups", current_table(
        "topups", [GOOD["topups"], topup("bad-1", "u1", 1, "weird")]), "a.parquet")
    write(settings.balance_landing, "payments", b"\x00garbage", "b.parquet")
    write(settings.balance_landing, "ledger", current_table("ledger", [GOOD["ledger"]]))
    result = dg.materialize([downcity_topups], instance=dagster_instance,
                            resources=build_resources())
    assert result.success
    meta = result.asset_materializations_for_node("downcity_topups")[0].metadata
    assert meta["topups_rows"].value == 2
    assert meta["topups_rejected"].value == 1
    assert meta["payments_rejected"].value == 1
    assert meta["ledger_rows"].value == 1 and meta["ledger_rejected"].value == 0
    _, rejects = load(settings)
    assert [(r[0], r[2]) for r in rejects] == [("payments/b.parquet", "unreadable_file"),
                                               ("topups/a.parquet", "bad_status")]


def test_latest_export_row_wins_per_key(settings):
    """Not a rejection: a later export of the same topup replaces the earlier one."""
    write(settings.balance_landing, "topups", current_table("topups", [
        topup("t1", "u1", 1_000_000, "pending")]), "a.parquet")
    write(settings.balance_landing, "topups", current_table("topups", [
        topup("t1", "u1", 1_000_000, "paid", updated_at="2026-11-20T11:00:00.000Z")]),
        "b.parquet")
    write(settings.balance_landing, "topups", current_table("topups", [
        topup("t1", "u1", 1_000_000, "pending", updated_at="2026-11-20T09:00:00.000Z")]),
        "c.parquet")
    _, rejects = load(settings)
    with connect(settings.warehouse, read_only=True) as conn:
        assert conn.execute("SELECT status FROM downcity_topups").fetchall() == [("paid",)]
    assert rejects == []
