"""Ingestion at scale in bounded pieces: an index update folded one bucket range at a time
(`id_index.ROWS_PER_WRITE`), and a window built in groups of consecutive days
(`ingest.GROUP_ROWS`), give exactly what one piece gives; a crash between two groups
converges on the next run. Each scenario runs twice, on two fresh warehouses (real Parquet
files, real DuckDB files), once with the bound set low and once with the default."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from tests.usage.helpers_landing import (
    T0,
    Outcome,
    ingest,
    land,
    twin_settings,
    valid_row,
    warehouse_state,
)
from usage_model import faults
from usage_model.config import Settings
from usage_model.usage import id_index
from usage_model.usage import ingest as ingest_module
from usage_model.usage.batching import bounded_runs

D1, D2, D3 = (T0 + timedelta(days=k) for k in range(3))


def _curated(out: Outcome) -> list[tuple]:
    return sorted((r["event_id"], r["source_file"], r["source_row"], r["occurred_at"])
                  for r in out.curated)


def _index_scenario(settings: Settings) -> list[Outcome]:
    """Three runs: ids spread over many buckets; then copies of them on another day and a
    removed file (rows leaving the index); then a late file repeating ids of both."""
    runs = []
    land(settings, "a.parquet", [valid_row(f"a{k}") for k in range(40)])
    gone = land(settings, "c.parquet", [valid_row(f"c{k}", occurred_at=D2) for k in range(20)]
                + [valid_row("a3", occurred_at=D2)])
    runs.append(ingest(settings))
    gone.unlink()
    land(settings, "b.parquet", [valid_row(f"a{k}", occurred_at=D2) for k in range(0, 40, 4)]
         + [valid_row(f"b{k}", occurred_at=D2) for k in range(30)])
    runs.append(ingest(settings))
    land(settings, "d.parquet", [valid_row(f"a{k}") for k in range(0, 40, 5)]
         + [valid_row(f"b{k}", occurred_at=D3) for k in range(0, 30, 3)])
    runs.append(ingest(settings))
    return runs


def _summary(runs: list[Outcome]) -> list[tuple]:
    return [(sorted(o.scan.rebuild_days), sorted(o.build.days), o.build.conflicts,
             o.build.identical_duplicates, _curated(o)) for o in runs]


def _both(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          scenario: Callable[[Settings], list[Outcome]], bound: tuple[object, str, int],
          ) -> tuple[tuple[list, dict], tuple[list, dict]]:
    """The scenario with the default bound, then on a twin layout with `bound` set."""
    one = scenario(settings)
    default = (_summary(one), warehouse_state(settings))
    twin = twin_settings(settings, tmp_path / "bounded")
    monkeypatch.setattr(*bound)
    many = scenario(twin)
    return default, (_summary(many), warehouse_state(twin))


def test_an_update_in_many_bucket_ranges_equals_one_pass(settings, tmp_path, monkeypatch):
    ranges: list[list[tuple[int, int]]] = []
    real = id_index.bucket_ranges
    monkeypatch.setattr(id_index, "bucket_ranges",
                        lambda held, bound: ranges.append(real(held, bound)) or ranges[-1])
    default, bounded = _both(settings, tmp_path, monkeypatch, _index_scenario,
                             (id_index, "ROWS_PER_WRITE", 3))
    one_pass, many = ranges[:3], ranges[3:]
    assert all(len(r) == 1 for r in one_pass)
    assert all(len(r) > 1 for r in many)  # every update of the bounded run: several passes
    # the ranges cover each touched bucket once, in order
    assert all(r[k][1] < r[k + 1][0] for r in many for k in range(len(r) - 1))
    assert bounded == default
    summary, state = default
    # what one pass is expected to find, from the scenario's own inputs: b's copies of a's
    # ids on D2 move no winner of D1 (a.parquet comes first) but oblige D1 to be rebuilt
    assert summary[1][0] == sorted({D1.date(), D2.date()})
    assert summary[1][2] == 10  # b's ten copies of a's ids on another day: conflicts
    assert summary[2][2] == 10 + 10  # and d's copies of b's ids on D3
    assert ("a3", D2.date(), "c.parquet", 20) not in state["index"]  # c left the index
    assert len(state["index"]) == 40 + 10 + 30 + 8 + 10
    # the record of repeated ids: a's ids copied by b (every 4th) or d (every 5th), 16 of them,
    # with their 10 + 8 copies; b's ids copied by d (every 3rd), 10, with their 10 copies
    assert len(state["repeated"]) == 16 + 10 + 8 + 10 + 10


def _group_scenario(settings: Settings,
                    after_crash: Callable[[], None] | None = None) -> list[Outcome]:
    """Three days: ids whose winner is on D1 with a conflicting copy on D2 and D3, identical
    copies in two files of one day, a bad row; then a late file adding copies whose winner is
    in an earlier group. With `after_crash`, a run that fails (a fault set by the caller)
    comes first, then `after_crash()`, then the second run."""
    rows_d1 = [valid_row(f"x{k}") for k in range(6)] + [valid_row("clash", user_id="u-1")]
    land(settings, "dt=1/a.parquet", rows_d1)
    land(settings, "dt=1/b.parquet", [valid_row("x1"), valid_row("x2")])  # identical
    land(settings, "dt=2/a.parquet", [valid_row(f"y{k}", occurred_at=D2) for k in range(5)]
         + [valid_row("clash", occurred_at=D2), valid_row("", occurred_at=D2)])
    land(settings, "dt=3/a.parquet", [valid_row(f"z{k}", occurred_at=D3) for k in range(5)]
         + [valid_row("clash", occurred_at=D3, user_id="u-3")])
    runs = [ingest(settings)]
    land(settings, "dt=9/late.parquet", [valid_row("y1", occurred_at=D3),
                                         valid_row("z2", occurred_at=D2)])
    if after_crash is not None:
        with pytest.raises(faults.InjectedFault):
            ingest(settings)
        after_crash()
    runs.append(ingest(settings))
    return runs


def _spy_groups(monkeypatch: pytest.MonkeyPatch) -> list[list]:
    groups: list[list] = []
    real = ingest_module._build_group

    def recording(conn, settings, days, future_limit):
        groups.append(list(days))
        return real(conn, settings, days, future_limit)

    monkeypatch.setattr(ingest_module, "_build_group", recording)
    return groups


def test_a_window_built_in_day_groups_equals_one_build(settings, tmp_path, monkeypatch):
    groups = _spy_groups(monkeypatch)
    default, bounded = _both(settings, tmp_path, monkeypatch, _group_scenario,
                             (ingest_module, "GROUP_ROWS", 1))
    assert groups[:2] == [[D1.date(), D2.date(), D3.date()]] * 2
    assert groups[2:] == [[D1.date()], [D2.date()], [D3.date()]] * 2
    assert bounded == default
    summary, state = default
    # from the inputs: clash's winner is D1's a.parquet row; its D2 and D3 copies conflict
    # (the late file's copies of y1 and z2 too: their winners sit in other groups)
    conflicts = {(q[0], q[2]) for q in state["quarantine"] if q[4] == "duplicate_conflict"}
    assert conflicts == {("dt=2/a.parquet", "clash"), ("dt=3/a.parquet", "clash"),
                         ("dt=9/late.parquet", "y1"), ("dt=9/late.parquet", "z2")}
    assert [(d, a, i, c) for d, _, a, i, c in state["loads"]] == [
        (D1.date(), 7, 2, 0), (D2.date(), 5, 0, 2), (D3.date(), 5, 0, 2)]
    assert any(q[4] != "duplicate_conflict" for q in state["quarantine"])  # the bad row
    assert state["pending"] == set()


def test_a_crash_between_two_groups_converges_on_the_next_run(settings, tmp_path, monkeypatch):
    clean = _group_scenario(settings)
    monkeypatch.setattr(ingest_module, "GROUP_ROWS", 1)
    twin = twin_settings(settings, tmp_path / "crashed")
    # the first run builds three groups; the second fails right after its first group's commit
    monkeypatch.setenv("CITY_USAGE_FAULT_POINT", "after_build_commit:4:raise")
    faults._spec.cache_clear()
    monkeypatch.setattr(faults, "_hits", [0])
    left: list[dict] = []
    try:
        crashed = _group_scenario(twin, after_crash=lambda: left.append(warehouse_state(twin)))
    finally:
        faults._spec.cache_clear()
    # the failed run committed its first group (D1) only: D2 and D3 kept their intents
    assert left[0]["pending"] == {D2.date(), D3.date()}
    assert _summary(crashed)[1][4] == _summary(clean)[1][4]
    assert warehouse_state(twin) == warehouse_state(settings)


def test_bounded_runs_keep_order_and_put_an_oversized_item_alone():
    sized = [("a", 4), ("b", 3), ("c", 12), ("d", 1), ("e", 7), ("f", 0)]
    # a run may reach the bound exactly (d, e, f: 8)
    assert bounded_runs(sized, 8) == [["a", "b"], ["c"], ["d", "e", "f"]]
    assert bounded_runs([], 8) == []
