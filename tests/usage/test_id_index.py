"""The partitioned id index (`usage_model/usage/id_index.py`): stable buckets, a new file
touching only its ids' buckets, removed files leaving the index, and segment files the
warehouse does not list (an update killed before its commit) ignored and removed. Real
Parquet files and a real DuckDB file; the kill itself is in tests/faults/test_kills.py."""

from __future__ import annotations

import hashlib

import duckdb

from tests.usage.helpers_landing import T0, ingest, land, valid_row
from usage_model.config import Settings
from usage_model.usage import id_index
from usage_model.warehouse import connect

D1 = T0.date()


def _bucket(event_id: str) -> int:
    """Independent of DuckDB: the low 64 bits of the MD5 digest, little-endian (RFC 1321)."""
    digest = hashlib.md5(event_id.encode()).digest()
    return int.from_bytes(digest[8:], "little") % id_index.BUCKETS


def _segments(settings: Settings) -> dict[int, set[str]]:
    with connect(settings.warehouse) as conn:
        found: dict[int, set[str]] = {}
        for s in id_index.segments(conn):
            found.setdefault(s.bucket, set()).add(s.name)
    return found


def _index(settings: Settings) -> list[tuple]:
    with connect(settings.warehouse) as conn:
        id_index.install_view(conn, settings)
        return conn.execute(
            "SELECT event_id, day, f.path, source_row FROM usage_event_index "
            "JOIN usage_files f USING (file_id) ORDER BY ALL").fetchall()


def test_buckets_are_md5_of_the_id_on_any_duckdb_version():
    ids = ["usage_01HZX", "3f2c9a6e-1d4b-4c55-9b0e-8f1a2b3c4d5e", "é-unicode"]
    got = duckdb.connect().execute(
        f"SELECT md5_number_lower(i) % {id_index.BUCKETS} FROM unnest($ids) t(i)",
        {"ids": ids}).fetchall()
    assert [r[0] for r in got] == [_bucket(i) for i in ids]


def test_a_new_file_writes_only_the_buckets_of_its_ids(settings: Settings):
    land(settings, "a.parquet", [valid_row(f"a{k}") for k in range(200)])
    ingest(settings)
    before = _segments(settings)
    assert set(before) == {_bucket(f"a{k}") for k in range(200)}
    land(settings, "b.parquet", [valid_row("late-1")])
    ingest(settings)
    after = _segments(settings)
    bucket = _bucket("late-1")
    changed = {b for b in set(before) | set(after) if before.get(b) != after.get(b)}
    assert changed == {bucket}
    assert ("late-1", D1, "b.parquet", 0) in _index(settings)


def test_a_removed_file_leaves_the_index_and_its_copy_elsewhere_wins(settings: Settings):
    path = land(settings, "a.parquet", [valid_row("dup"), valid_row("a1")])
    land(settings, "b.parquet", [valid_row("dup")])
    first = ingest(settings)
    assert first.by_id()["dup"]["source_file"] == "a.parquet"
    path.unlink()
    second = ingest(settings)
    assert _index(settings) == [("dup", D1, "b.parquet", 0)]
    assert second.by_id()["dup"]["source_file"] == "b.parquet"
    assert sorted(second.by_id()) == ["dup"]


def test_segment_files_the_warehouse_does_not_list_are_ignored_and_removed(settings: Settings):
    land(settings, "a.parquet", [valid_row("a1"), valid_row("a2")])
    ingest(settings)
    listed = _index(settings)
    where = id_index.location(settings)
    bucket = _bucket("a1")
    stray = where.path(f"bucket={bucket:03d}", "999999999-deadbeef.parquet")
    # what an update killed between writing a segment and its commit leaves: a complete
    # segment with a copy of a1 the warehouse never recorded
    with connect(settings.warehouse) as conn:
        id_index.install_view(conn, settings)
        conn.execute(f"COPY (SELECT id_hash, event_id, day, file_id, source_row + 5 AS "
                     "source_row, 0::UBIGINT AS content_hash_hi, 0::UBIGINT AS content_hash_lo "
                     f"FROM usage_event_index WHERE event_id = 'a1') TO '{stray}' "
                     "(FORMAT parquet)")
    assert _index(settings) == listed  # not listed: never read
    land(settings, "b.parquet", [valid_row("b1")])
    out = ingest(settings)
    assert not where.fs.get_file_info(stray).is_file
    assert out.build.conflicts == 0 and sorted(out.by_id()) == ["a1", "a2", "b1"]


def test_an_update_larger_than_one_write_covers_every_bucket_once(settings: Settings, monkeypatch):
    # 200 new ids written 30 rows' worth of buckets at a time: several bucket ranges
    monkeypatch.setattr(id_index, "ROWS_PER_WRITE", 30)
    ids = [f"a{k}" for k in range(200)]
    land(settings, "a.parquet", [valid_row(i) for i in ids])
    ingest(settings)
    segments = _segments(settings)
    assert set(segments) == {_bucket(i) for i in ids}
    assert all(len(names) == 1 for names in segments.values())  # one segment per bucket
    assert _index(settings) == sorted((i, D1, "a.parquet", k) for k, i in enumerate(ids))
