"""Phase one of an index lookup (`id_index.matched_hashes`): which of a batch's id hashes occur
in the segments of their buckets, by a search of each sorted segment. Checked against the
set arithmetic of the written hashes and the DuckDB semi-join it replaced, on real segment
files written by the index's own writer: several segments per bucket, a hash in several
segments, hashes in none, a segment of several row groups."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pyarrow as pa

from usage_model import storage
from usage_model.usage import id_index

BUCKETS = np.uint64(id_index.BUCKETS)


def _segment_rows(hashes: np.ndarray, file_id: int) -> pa.Table:
    """Index rows of `hashes`, sorted by bucket then hash as the index writes them."""
    hashes = np.unique(hashes)
    order = np.lexsort((hashes, hashes % BUCKETS))
    hashes = hashes[order]
    return pa.table({
        "bucket": hashes % BUCKETS,
        "id_hash": hashes,
        "event_id": [f"e{h}" for h in hashes.tolist()],
        "day": pa.array([date(2026, 1, 1)] * len(hashes)),
        "file_id": pa.array([file_id] * len(hashes), pa.int64()),
        "source_row": pa.array(range(len(hashes)), pa.int64()),
    })


def _sql_matched(uris: list[str], probe: np.ndarray) -> list[int]:
    """The semi-join phase one was before: DuckDB reads every id_hash and joins."""
    conn = duckdb.connect()
    conn.register("probe", pa.table({"id_hash": probe}))
    return sorted(r[0] for r in conn.execute(
        "SELECT DISTINCT id_hash FROM read_parquet($uris::VARCHAR[]) "
        "WHERE id_hash IN (SELECT id_hash FROM probe)", {"uris": uris}).fetchall())


def test_phase_one_matches_exactly_the_hashes_written_across_segments(tmp_path):
    rng = np.random.default_rng(11)
    where = storage.location(tmp_path / "_index")
    shared = rng.integers(0, 2**64, 300, dtype=np.uint64, endpoint=False)  # in every segment
    # One bucket gets a segment of two row groups (the writer's groups are 65,536 rows).
    wide = rng.integers(0, 2**58, 70_000, dtype=np.uint64) * BUCKETS + np.uint64(5)
    batches = [np.concatenate([rng.integers(0, 2**64, 5_000, dtype=np.uint64), shared]),
               np.concatenate([rng.integers(0, 2**64, 3_000, dtype=np.uint64), shared, wide]),
               np.concatenate([rng.integers(0, 2**64, 500, dtype=np.uint64), shared])]
    written = [id_index._write_segments(where, _segment_rows(b, seq), seq)
               for seq, b in enumerate(batches, start=1)]
    candidates = [s for segs in written for s in segs]
    assert max(sum(1 for s in candidates if s.bucket == b) for b in range(64)) == 3
    assert any(s.rows > 65_536 for s in candidates)
    stored = set(np.concatenate(batches).tolist())
    absent = rng.integers(0, 2**64, 2_000, dtype=np.uint64)
    assert not set(absent.tolist()) & stored
    probe = np.unique(np.concatenate([
        absent, shared, batches[0][:1_000], batches[1][:700], wide[-900:], batches[2][:50]]))

    got = id_index.matched_hashes(where, candidates, probe).tolist()

    expected = sorted(set(probe.tolist()) & stored)
    assert len(expected) == 300 + 1_000 + 700 + 900 + 50
    assert got == expected
    assert got == _sql_matched([where.path(f"bucket={s.bucket:03d}", s.name)
                                for s in candidates], probe)


def test_phase_one_reads_only_the_segments_it_is_given(tmp_path):
    where = storage.location(tmp_path / "_index")
    hashes = np.arange(1, 1_000, dtype=np.uint64)
    segments = id_index._write_segments(where, _segment_rows(hashes, 1), 1)
    probe = np.array([3, 4, 10**6], dtype=np.uint64)
    in_bucket_3 = [s for s in segments if s.bucket == 3]
    assert id_index.matched_hashes(where, in_bucket_3, probe).tolist() == [3]
    assert id_index.matched_hashes(where, [], probe).tolist() == []


def test_an_unsorted_segment_column_is_searched_exactly():
    values = np.array([40, 7, 19, 3], dtype=np.uint64)
    probe = np.array([3, 8, 19, 41], dtype=np.uint64)
    assert id_index._sorted_hits(values, probe).tolist() == [3, 19]
