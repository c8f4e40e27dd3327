"""Phase one of an index lookup (`id_index.matched_hashes`): which of a batch's id hashes occur
in the segments of their buckets. Checked against the set arithmetic of the written hashes on
real segment files written by the index's own writer: several segments per bucket, a hash in
several segments, hashes in none; and the segments' id_hash
column is stored so that reading it whole stays cheap (plain, uncompressed); each segment's
`.hashes` file (what phase one searches) holds its hashes sorted, a segment without one is
still searched exactly, and the index keeps exactly its segments' files."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tests.usage.helpers_landing import ingest, land, valid_row
from usage_model import storage
from usage_model.usage import id_index
from usage_model.usage.ingest import ScanResult
from usage_model.warehouse import connect

BUCKETS = np.uint64(id_index.BUCKETS)


def _segment_rows(hashes: np.ndarray, file_id: int) -> pa.Table:
    """Index rows of `hashes`, sorted by bucket then hash as the index writes them."""
    hashes = np.unique(hashes)
    hashes = hashes[np.lexsort((hashes, hashes % BUCKETS))]
    return pa.table({
        "bucket": hashes % BUCKETS,
        "id_hash": hashes,
        "event_id": [f"e{h}" for h in hashes.tolist()],
        "day": pa.array(np.full(len(hashes), np.datetime64("2026-01-01", "D"))),
        "file_id": pa.array([file_id] * len(hashes), pa.int64()),
        "source_row": pa.array(range(len(hashes)), pa.int64()),
    })


def _write(where: storage.Location, batches: list[np.ndarray]) -> list[id_index.Segment]:
    return [s for seq, b in enumerate(batches, start=1)
            for s in id_index.write_segments(where, _segment_rows(b, seq), seq, "test")]


def _uris(where: storage.Location, segments: list[id_index.Segment]) -> list[str]:
    return [where.path(f"bucket={s.bucket:03d}", s.name) for s in segments]


def _matched(where: storage.Location, segments: list[id_index.Segment],
             probe: np.ndarray) -> list[int]:
    conn = duckdb.connect()
    conn.register("probe_rows", pa.table({"id_hash": probe}))
    conn.execute("CREATE TEMP TABLE probe AS SELECT * FROM probe_rows")
    listed = {uri: (s.bucket, s.rows) for uri, s in zip(_uris(where, segments), segments,
                                                          strict=True)}
    return sorted(id_index.matched_hashes(conn, where, listed, "probe"))


def test_phase_one_matches_exactly_the_hashes_written_across_segments(tmp_path):
    rng = np.random.default_rng(11)
    where = storage.location(tmp_path / "_index")
    shared = rng.integers(0, 2**64, 300, dtype=np.uint64)  # in every segment of its bucket
    batches = [np.concatenate([rng.integers(0, 2**64, 3_000, dtype=np.uint64), shared]),
               np.concatenate([rng.integers(0, 2**64, 1_500, dtype=np.uint64), shared]),
               np.concatenate([rng.integers(0, 2**64, 500, dtype=np.uint64), shared])]
    segments = _write(where, batches)
    assert max(sum(1 for s in segments if s.bucket == b) for b in range(64)) == 3
    stored = set(np.concatenate(batches).tolist())
    absent = rng.integers(0, 2**64, 2_000, dtype=np.uint64)
    assert not set(absent.tolist()) & stored
    # Unsorted and with repeats, as a batch's ids come.
    probe = rng.permutation(np.concatenate([
        absent, shared, shared[:10], batches[0][:1_000], batches[1][:700],
        batches[2][:50]]))

    got = _matched(where, segments, probe)

    assert got == sorted(set(probe.tolist()) & stored)
    assert len(got) == 300 + 1_000 + 700 + 50


def test_phase_one_reads_only_the_segments_it_is_given(tmp_path):
    where = storage.location(tmp_path / "_index")
    segments = _write(where, [np.arange(1, 1_000, dtype=np.uint64)])
    probe = np.array([3, 4, 10**6], dtype=np.uint64)
    assert _matched(where, [s for s in segments if s.bucket == 3], probe) == [3]
    assert _matched(where, [], probe) == []


def test_segments_store_id_hash_plain_and_uncompressed(tmp_path):
    where = storage.location(tmp_path / "_index")
    segment = _write(where, [np.array([7, 71], dtype=np.uint64)])[0]
    column = pq.ParquetFile(_uris(where, [segment])[0]).metadata.row_group(0)
    by_name = {column.column(i).path_in_schema: column.column(i)
               for i in range(column.num_columns)}
    assert by_name["id_hash"].compression == "UNCOMPRESSED"
    assert not by_name["id_hash"].has_dictionary_page
    assert by_name["event_id"].compression == "ZSTD"


def test_a_segments_hashes_file_holds_its_id_hashes_sorted(tmp_path):
    where = storage.location(tmp_path / "_index")
    rng = np.random.default_rng(5)
    for segment in _write(where, [rng.integers(0, 2**64, 5_000, dtype=np.uint64)]):
        uri = _uris(where, [segment])[0]
        raw = np.fromfile(uri + id_index.HASHES, dtype="<u8")
        column = pq.read_table(uri, columns=["id_hash"])["id_hash"].to_numpy()
        assert raw.tolist() == column.tolist() == sorted(column.tolist())


def test_a_segment_without_a_whole_hashes_file_is_searched_by_reading_its_column(tmp_path):
    # (Segments written before the `.hashes` files, or a file cut short: exact all the same.)
    where = storage.location(tmp_path / "_index")
    rng = np.random.default_rng(6)
    batches = [rng.integers(0, 2**64, 2_000, dtype=np.uint64) for _ in range(2)]
    segments = _write(where, batches)
    for uri in _uris(where, segments[::2]):
        (tmp_path / "_index" / uri.rsplit("/", 2)[-2] / (uri.rsplit("/", 1)[-1]
                                                         + id_index.HASHES)).unlink()
    # And one whose hashes file lost its tail: not trusted either.
    truncated = Path(_uris(where, segments[1:2])[0] + id_index.HASHES)
    cut = np.frombuffer(truncated.read_bytes()[-8:], dtype="<u8")  # the hash it loses
    truncated.write_bytes(truncated.read_bytes()[:-8])
    probe = np.concatenate([batches[0][:300], batches[1][-300:], cut,
                            rng.integers(0, 2**64, 300, dtype=np.uint64)])
    assert _matched(where, segments, probe) == sorted(
        set(probe.tolist()) & set(np.concatenate(batches).tolist()))


def test_the_index_keeps_the_hashes_files_of_its_segments_only(settings):
    land(settings, "a.parquet", [valid_row(f"e-{i}") for i in range(40)])
    ingest(settings)
    land(settings, "b.parquet", [valid_row(f"f-{i}") for i in range(40)])
    ingest(settings)  # folds segments: the replaced ones and their hashes files go
    root = settings.work_root / id_index.FOLDER
    with connect(settings.warehouse) as conn:
        listed = {Path(p) for p in id_index.segment_paths(conn, settings)}
    assert listed
    on_disk = {p for p in root.rglob("*") if p.is_file()}
    assert on_disk == listed | {Path(f"{p}{id_index.HASHES}") for p in listed}
    # A segment whose hashes file is gone (or from before them) gets it back at the next
    # update (here one with nothing to fold), equal to its id_hash column.
    lost = Path(f"{next(iter(listed))}{id_index.HASHES}")
    expected = lost.read_bytes()
    lost.unlink()
    with connect(settings.warehouse) as conn:
        assert id_index.update(conn, settings, ScanResult()) == 0
    assert lost.read_bytes() == expected
