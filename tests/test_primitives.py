"""The shared primitives every layer uses: the SQL loader, the transaction helper, storage."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from usage_model.sql import SqlError, load_sql, run_sql
from usage_model.storage import location
from usage_model.warehouse import transaction


@pytest.fixture()
def statements(tmp_path):
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "pick.sql").write_text(
        "SELECT x FROM {{source}} WHERE x > $floor ORDER BY x"
    )
    return tmp_path / "module.py"


def test_named_parameters_and_checked_identifiers(statements):
    conn = duckdb.connect()
    conn.execute("CREATE TEMP TABLE numbers AS SELECT range AS x FROM range(5)")
    rows = run_sql(conn, statements, "pick", idents={"source": "numbers"}, floor=2).fetchall()
    assert rows == [(3,), (4,)]
    with pytest.raises(SqlError, match="not a plain SQL identifier"):
        load_sql(statements, "pick", idents={"source": "numbers; DROP TABLE x"})
    with pytest.raises(SqlError, match=r"no identifier given for \{\{source\}\}"):
        load_sql(statements, "pick")
    with pytest.raises(SqlError, match="no such SQL statement file"):
        load_sql(statements, "absent")


def test_transaction_rolls_back_on_error_and_joins_an_open_one():
    conn = duckdb.connect()
    conn.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(RuntimeError), transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("boom")
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    with transaction(conn):
        conn.execute("INSERT INTO t VALUES (2)")
        with transaction(conn):  # joins, does not commit early
            conn.execute("INSERT INTO t VALUES (3)")
    assert conn.execute("SELECT sum(x) FROM t").fetchone() == (5,)


def test_local_atomic_write_leaves_no_temporary_on_failure(tmp_path):
    where = location(tmp_path / "curated")
    target = where.path("events", "day=2026-01-01", "part-0.parquet")
    where.write_atomic(target, lambda fs, p: pq.write_table(pa.table({"x": [1]}), p, filesystem=fs))
    assert pq.read_table(target).column("x").to_pylist() == [1]

    def broken(fs, p):
        with fs.open_output_stream(p) as out:
            out.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        where.write_atomic(where.path("events", "other.parquet"), broken)
    assert sorted(p.name for p in (tmp_path / "curated" / "events").iterdir()) == ["day=2026-01-01"]
