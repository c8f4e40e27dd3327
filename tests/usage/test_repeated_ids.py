"""The record of repeated ids (`usage_repeated_ids`): the index update keeps every index row
of each id with more than one copy, and the build takes the copies outside its days from it
instead of reading the index segments. Incremental runs over many days of history must give
what one run over the same landing gives on a fresh warehouse, with winners on old days,
removed and rewritten files; a warehouse without the record fills it from the segments.
Real Parquet files and real DuckDB warehouses throughout."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.usage.helpers_landing import (
    T0,
    fault_armed,
    ingest,
    land,
    twin_settings,
    valid_row,
    warehouse_state,
)
from usage_model import faults
from usage_model.config import Settings
from usage_model.usage import id_index, index_folds
from usage_model.usage import ingest as ingest_module
from usage_model.warehouse import connect

# twelve days before T0 (the tests' clock is a few days after it: none is in the future)
DAYS = [T0 - timedelta(days=12 - k) for k in range(12)]


def _history(settings: Settings) -> None:
    """Ten days of files; ids repeated across days: `old` (its first copy on day 0, a
    conflicting one on day 4), `same` (identical copies of a day-1 event in the files of days
    1 and 6), `moved` (first on day 2 in a file removed later, then on day 8)."""
    for k in range(10):
        rows = [valid_row(f"d{k}-{n}", occurred_at=DAYS[k]) for n in range(5)]
        if k == 0:
            rows.append(valid_row("old", occurred_at=DAYS[0], user_id="u-first"))
        if k == 4:
            rows.append(valid_row("old", occurred_at=DAYS[4], user_id="u-later"))
        if k in (1, 6):
            rows.append(valid_row("same", occurred_at=DAYS[1]))
        if k == 8:
            rows.append(valid_row("moved", occurred_at=DAYS[8], user_id="u-8"))
        land(settings, f"dt={k:02d}/part.parquet", rows)
    land(settings, "dt=02/extra.parquet", [valid_row("moved", occurred_at=DAYS[2])])


def _late(settings: Settings) -> None:
    """A late file with a day-11 copy of `old` (a conflict: its winner is on day 0) and
    another identical copy of `same`, the removal of `moved`'s first copy, and a rewritten
    day-5 file that now repeats an id of day 3."""
    land(settings, "dt=11/late.parquet", [
        valid_row("old", occurred_at=DAYS[11], user_id="u-late"),
        valid_row("same", occurred_at=DAYS[1]),
        valid_row("d11-0", occurred_at=DAYS[11])])
    (settings.usage_landing / "dt=02/extra.parquet").unlink()
    land(settings, "dt=05/part.parquet", [valid_row(f"d5-{n}", occurred_at=DAYS[5])
                                          for n in range(4)]
         + [valid_row("d3-1", occurred_at=DAYS[5], user_id="u-5")])


def _winners(out) -> dict[str, tuple[str, str]]:
    return {r["event_id"]: (r["source_file"], r["user_id"]) for r in out.curated
            if r["event_id"] in ("old", "same", "moved", "d3-1")}


def _record_and_index(settings: Settings) -> list[list[tuple]]:
    """The record's rows, and the index rows of every id the index holds more than once."""
    with connect(settings.warehouse) as conn:
        id_index.install_view(conn, settings)
        return [conn.execute(f"SELECT event_id, id_hash, day, file_id, source_row FROM {rows} "
                             "ORDER BY ALL").fetchall()
                for rows in ("usage_repeated_ids", "usage_event_index "
                             "QUALIFY count(*) OVER (PARTITION BY event_id) > 1")]


def _incremental(settings: Settings) -> Any:
    """History first, then the late changes, each run building only the days it touched."""
    _history(settings)
    ingest(settings, only_touched=True)
    _late(settings)
    return ingest(settings, only_touched=True)


def test_incremental_runs_using_the_record_equal_one_run_from_scratch(settings, tmp_path,
                                                                      monkeypatch):
    # one day per build group: every copy on another day comes from the record
    monkeypatch.setattr(ingest_module, "GROUP_ROWS", 1)
    probes: list[str] = []
    real_find = index_folds.other_copies
    monkeypatch.setattr(index_folds, "other_copies",
                        lambda conn, index, task, ids, target: probes.append(ids) or real_find(
                            conn, index, task, ids, target))
    last = _incremental(settings)
    assert set(probes) == {"index_touched"}  # only the update reads the segments
    scratch = twin_settings(settings, tmp_path / "scratch")
    _history(scratch)
    _late(scratch)
    monkeypatch.undo()
    fresh = ingest(scratch)
    assert warehouse_state(settings) == warehouse_state(scratch)
    assert sorted(map(str, last.curated)) == sorted(map(str, fresh.curated))
    # from the inputs: old's winner stays day 0's copy (its day-4 and day-11 copies conflict),
    # the late copy of same is identical, moved's winner is now day 8's, d3-1 keeps day 3's
    assert _winners(last) == {"old": ("dt=00/part.parquet", "u-first"),
                              "same": ("dt=01/part.parquet", "user-1"),
                              "moved": ("dt=08/part.parquet", "u-8"),
                              "d3-1": ("dt=03/part.parquet", "user-1")}
    conflicts = {(q[0], q[2]) for q in warehouse_state(settings)["quarantine"]
                 if q[4] == "duplicate_conflict"}
    assert conflicts == {("dt=04/part.parquet", "old"), ("dt=11/late.parquet", "old"),
                         ("dt=05/part.parquet", "d3-1")}
    recorded, from_index = _record_and_index(settings)
    assert recorded == from_index
    # moved has one copy left, so it left the record with the removed file
    assert {r[0] for r in recorded} == {"old", "same", "d3-1"}


def test_a_warehouse_without_the_record_fills_it_from_the_index(settings, tmp_path,
                                                                 monkeypatch):
    _history(settings)
    ingest(settings)
    with connect(settings.warehouse) as conn:
        conn.execute("DROP TABLE usage_repeated_ids")  # as a warehouse from before it
    _late(settings)
    # the first update fails before the record's commit: nothing of it stays
    with fault_armed(monkeypatch, "before_record_commit:1:raise"), pytest.raises(
            faults.InjectedFault):
        ingest(settings)
    with connect(settings.warehouse) as conn:
        assert conn.execute("SELECT count(*) FROM duckdb_tables() "
                            "WHERE table_name = 'usage_repeated_ids'").fetchone()[0] == 0
    monkeypatch.setattr(ingest_module, "GROUP_ROWS", 1)
    last = ingest(settings)
    recorded, from_index = _record_and_index(settings)
    assert recorded == from_index and {r[0] for r in recorded} == {"old", "same", "d3-1"}
    scratch = twin_settings(settings, tmp_path / "scratch")
    _history(scratch)
    _late(scratch)
    fresh = ingest(scratch)
    assert warehouse_state(settings) == warehouse_state(scratch)
    assert sorted(map(str, last.curated)) == sorted(map(str, fresh.curated))
