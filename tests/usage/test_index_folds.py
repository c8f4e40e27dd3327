"""The id index update split for the workers (`usage_model/usage/index_folds.py`): a plan on
the warehouse, folds in another process with no warehouse (tasks and results crossing as
JSON), and one commit, give what the in-process update gives; a stale plan, a failed fold and
a crash before the commit converge; a registered plan's unlisted segments survive other
updates' orphan removal until its run ends. Real Parquet files, a real DuckDB file, real
processes for the folds."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pyarrow.fs as pafs
import pytest
from pydantic import TypeAdapter

from tests.dagster_runs import materialize_days
from tests.s3_server import S3Server, s3_fixture  # noqa: F401 - provides `s3`
from tests.usage.helpers_landing import (
    NOW,
    T0,
    Outcome,
    fault_armed,
    ingest,
    land,
    read_curated,
    twin_settings,
    valid_row,
    warehouse_state,
)
from usage_model import faults
from usage_model.config import Environment, Settings
from usage_model.usage import id_index, index_folds
from usage_model.usage.index_folds import FoldResult, FoldTask
from usage_model.usage.ingest import ScanResult, build_days, scan_landing
from usage_model.usage.sample import write_sample_landing
from usage_model.warehouse import connect

D1, D2, D3 = T0, T0 + timedelta(days=1), T0 + timedelta(days=2)
ROWS_PER_FOLD = 12  # a few dozen rows: several bucket ranges, so several folds
DEAD_RUN = "d" * 32  # a run id (hex) the Dagster instance does not know
TASKS = TypeAdapter(list[FoldTask], config={"strict": True})
RESULTS = TypeAdapter(list[FoldResult], config={"strict": True})


def _first_landing(settings: Settings) -> None:
    # a and b share ids across days (every 3rd of a's on D2, one also with another user);
    # c shares one id with a
    land(settings, "dt=1/a.parquet", [valid_row(f"a{k}") for k in range(30)])
    land(settings, "dt=2/b.parquet",
         [valid_row(f"a{k}", occurred_at=D2, user_id="u-b" if k == 3 else "user-1")
          for k in range(0, 30, 3)] + [valid_row(f"b{k}", occurred_at=D2) for k in range(10)])
    land(settings, "dt=3/c.parquet", [valid_row("a7", occurred_at=D3),
                                      *(valid_row(f"c{k}", occurred_at=D3) for k in range(8))])


def _second_landing(settings: Settings) -> None:
    # c removed (a7 keeps a's copy alone), b rewritten without its copies of a's ids, d new
    (settings.usage_landing / "dt=3/c.parquet").unlink()
    land(settings, "dt=2/b.parquet", [valid_row(f"b{k}", occurred_at=D2) for k in range(10)])
    land(settings, "dt=3/d.parquet", [valid_row(f"b{k}", occurred_at=D3) for k in range(0, 10, 2)]
         + [valid_row(f"d{k}", occurred_at=D3) for k in range(6)])


def _fold_elsewhere(settings: Settings, tasks_json: bytes) -> bytes:
    """A fold step's work in another process: tasks in and results out as JSON."""
    tasks = TASKS.validate_json(tasks_json)
    return RESULTS.dump_json([index_folds.fold(settings, task) for task in tasks])


def _known_days(conn) -> set[date]:
    return {r[0] for r in conn.execute("SELECT day FROM usage_file_days UNION "
                                       "SELECT day FROM usage_day_loads").fetchall()}


def _plan(settings: Settings, plan_id: str) -> tuple[ScanResult, list[FoldTask]]:
    """The distributed run's warehouse step before the folds: scan without indexing, plan."""
    with connect(settings.warehouse) as conn:
        scan = scan_landing(conn, settings, now=NOW, index=False)
        return scan, index_folds.plan(conn, settings, plan_id, register=True)


# One other process for the whole module (spawned, not forked: it shares nothing with this
# one but the files), started on first use.
_OTHER_PROCESS: list[ProcessPoolExecutor] = []


@pytest.fixture(scope="module", autouse=True)
def _stop_other_process() -> Iterator[None]:
    yield
    for pool in _OTHER_PROCESS:
        pool.shutdown()
    _OTHER_PROCESS.clear()


def _fold_in_process(settings: Settings, tasks: list[FoldTask]) -> list[FoldResult]:
    """The tasks folded in the other process (what the fold steps do on a worker)."""
    if not _OTHER_PROCESS:
        _OTHER_PROCESS.append(ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn")))
    done = _OTHER_PROCESS[0].submit(_fold_elsewhere, settings, TASKS.dump_json(tasks))
    return RESULTS.validate_json(done.result())


def _commit_and_build(settings: Settings, scan: ScanResult,
                      results: list[FoldResult]) -> Outcome:
    with connect(settings.warehouse) as conn:
        rows = index_folds.commit(conn, settings, results, scan)
        build = build_days(conn, settings, _known_days(conn) | scan.days_touched, now=NOW)
    build.rows_indexed += rows
    return Outcome(scan, build, [], read_curated(settings))


def _distributed(settings: Settings, plan_id: str) -> Outcome:
    scan, tasks = _plan(settings, plan_id)
    return _commit_and_build(settings, scan, _fold_in_process(settings, tasks))


def _segment_files(settings: Settings) -> set[str]:
    return {p.name for p in Path(id_index.location(settings).root).rglob("*.parquet")}


def _first_landing_in_one_go(small: Settings, tmp_path: Path) -> Settings:
    """The first landing in `small`, and in a twin layout ingested with the in-process update
    (returned: what the distributed steps must converge to)."""
    one_go = twin_settings(small, tmp_path / "one-go")
    _first_landing(small)
    _first_landing(one_go)
    ingest(one_go)
    return one_go


@pytest.fixture
def small(settings: Settings) -> Settings:
    return replace(settings, index_rows_per_fold=ROWS_PER_FOLD)


@pytest.fixture
def no_local_folds(monkeypatch) -> list[str]:
    """Ranges of the distributed plans (ids of 32 times one digit) the commit had to fold
    itself: none when the folds' results were usable. (The in-one-go twins fold in process.)"""
    refolded: list[str] = []
    real = index_folds.fold
    monkeypatch.setattr(index_folds, "fold", lambda s, task: (
        len(set(task.plan_id)) == 1 and refolded.append(task.folder)) or real(s, task))
    return refolded


def test_folds_in_another_process_equal_the_update_in_one_go(small, tmp_path, no_local_folds):
    one_go = twin_settings(small, tmp_path / "one-go")
    for plan_id, step in (("7" * 32, _first_landing), ("8" * 32, _second_landing)):
        step(small)
        step(one_go)
        folded_elsewhere = _distributed(small, plan_id)
        in_one_go = ingest(one_go)
        assert warehouse_state(small) == warehouse_state(one_go)
        assert sorted(map(str, folded_elsewhere.curated)) == sorted(map(str, in_one_go.curated))
    assert no_local_folds == []  # every range was folded in the other process
    state = warehouse_state(small)
    # from the inputs: after the second landing, b's rewrite and c's removal leave no copy of
    # a's ids elsewhere; d copies b0, b2, b4, b6, b8 (5 ids, 10 rows in the record)
    assert {r[0] for r in state["repeated"]} == {f"b{k}" for k in range(0, 10, 2)}
    assert len(state["repeated"]) == 10
    assert len(state["index"]) == 30 + 10 + 5 + 6
    assert not any(e[1] == "dt=3/c.parquet" for e in state["index"])
    # every index row is in exactly one segment, and no unlisted one is left
    with connect(small.warehouse) as conn:
        listed = {s.name for s in id_index.segments(conn)}
    assert _segment_files(small) == listed


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_folds_on_a_host_sharing_no_folder_with_the_warehouse_use_object_storage(
        small, tmp_path, s3: S3Server, monkeypatch, no_local_folds):
    # Distributed mode: curated on S3, so the index and the update's staging are there too.
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    # one fold per landing (the default range size): what matters here is where it runs
    on_s3 = replace(small, curated_uri=s3.new_bucket() + "/curated", index_rows_per_fold=None)
    # The worker: its own data dir, which holds nothing of the warehouse host's.
    worker_dir = tmp_path / "worker"
    worker = replace(on_s3, data_dir=worker_dir, landing=worker_dir / "landing",
                     warehouse=worker_dir / "no-warehouse.duckdb",
                     curated=worker_dir / "curated", exports=worker_dir / "exports")
    one_go = twin_settings(small, tmp_path / "one-go")
    # a process spawned now carries the AWS variables (what a worker's environment holds)
    other = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        for plan_id, step in (("5" * 32, _first_landing), ("6" * 32, _second_landing)):
            step(on_s3)
            step(one_go)
            scan, tasks = _plan(on_s3, plan_id)
            assert tasks and all(not Path(p).exists() for t in tasks for p in t.staged)
            done = other.submit(_fold_elsewhere, worker, TASKS.dump_json(tasks)).result()
            results = RESULTS.validate_json(done)
            assert all(r.segments for r in results), [r.problem for r in results]
            folded_elsewhere = _commit_and_build(on_s3, scan, results)
            in_one_go = ingest(one_go)
            assert warehouse_state(on_s3) == warehouse_state(one_go)
            assert (sorted(map(str, folded_elsewhere.curated))
                    == sorted(map(str, in_one_go.curated)))
            # the commit took the worker's segments as they were
            with connect(on_s3.warehouse) as conn:
                listed = {s.name for s in id_index.segments(conn)}
            assert {s.name for r in results for s in r.segments or []} <= listed
    finally:
        other.shutdown()
    assert no_local_folds == []
    assert _files_under(worker_dir) == []  # the folds wrote nothing on the worker's disk
    index = id_index.location(on_s3)
    assert not index.is_local and not (on_s3.work_root / id_index.FOLDER).exists()
    on_bucket = {info.base_name for info in index.fs.get_file_info(
        pafs.FileSelector(index.root, recursive=True)) if info.type == pafs.FileType.File}
    assert on_bucket == listed | {name + id_index.HASHES for name in listed}
    staging = index_folds.staging_location(on_s3)  # every plan's staging removed at its commit
    assert not [info.path for info in staging.fs.get_file_info(pafs.FileSelector(
        staging.root, recursive=True, allow_not_found=True)) if info.type == pafs.FileType.File]


def test_the_first_landing_makes_several_folds_with_a_conflict(small):
    _first_landing(small)
    scan, tasks = _plan(small, "1" * 32)
    assert len(tasks) > 1
    assert [t.first for t in tasks] == sorted(t.first for t in tasks)
    assert all(a.last < b.first for a, b in zip(tasks, tasks[1:], strict=False))
    assert sum(t.new_rows for t in tasks) == 30 + 20 + 9
    out = _commit_and_build(small, scan, _fold_in_process(small, tasks))
    # from the inputs: every copy of an id on another day has another occurred_at, so b's 10
    # copies of a's ids and c's a7 conflict with a's first copies
    assert (out.build.conflicts, out.build.identical_duplicates) == (10 + 1, 0)


def test_a_plan_made_stale_by_another_update_is_redone_and_converges(small, tmp_path,
                                                                     no_local_folds):
    one_go = _first_landing_in_one_go(small, tmp_path)
    scan, tasks = _plan(small, "2" * 32)
    results = _fold_in_process(small, tasks)
    # another run indexes the same files first (its own update, in one go)
    with connect(small.warehouse) as conn:
        id_index.update(conn, small, ScanResult())
    out = _commit_and_build(small, scan, results)
    assert warehouse_state(small) == warehouse_state(one_go)
    assert out.build.conflicts == 10 + 1
    # the stale plan's segments were released and removed as orphans
    assert not any("-" + "2" * 32 + "-" in name for name in _segment_files(small))
    assert no_local_folds == []  # redone as a new update, not by refolding the stale tasks


def test_a_registered_plans_segments_survive_other_orphan_removal_until_its_run_ends(small):
    _first_landing(small)
    _, tasks = _plan(small, "3" * 32)
    results = _fold_in_process(small, tasks)
    written = {s.name for r in results for s in r.segments or []}
    assert written and written <= _segment_files(small)
    # and one still being written (write_atomic's temporary name)
    where = id_index.location(small)
    writing = where.path(id_index.bucket_folder(0),
                         f".tmp-{'9' * 32}-000000009-{'3' * 32}-0123456789ab.parquet")
    where.write_bytes(writing, b"half a segment")
    with connect(small.warehouse) as conn:
        # what every other update does first, while this plan's folds are in flight
        index_folds.remove_spent(conn, small)
        assert written <= _segment_files(small) and where.exists(writing)
        assert Path(index_folds.staging(small, "3" * 32)).is_dir()
        # its run ended without a commit: released, its files become orphans
        index_folds.release(conn, small, "3" * 32)
    assert not written & _segment_files(small) and not where.exists(writing)
    assert not Path(index_folds.staging(small, "3" * 32)).exists()


def test_a_fold_whose_output_is_gone_or_failed_is_folded_by_the_commit(small, tmp_path,
                                                                       no_local_folds):
    one_go = _first_landing_in_one_go(small, tmp_path)
    scan, tasks = _plan(small, "4" * 32)
    results = _fold_in_process(small, tasks)
    gone, failed = results[0], results[1]
    where = id_index.location(small)
    for segment in gone.segments or []:
        where.fs.delete_file(where.path(id_index.bucket_folder(segment.bucket), segment.name))
    results[1] = FoldResult(failed.task, None, problem="index fold: worker lost its disk")
    _commit_and_build(small, scan, results)
    assert no_local_folds == [gone.task.folder, failed.task.folder]
    assert warehouse_state(small) == warehouse_state(one_go)


def test_a_crash_between_the_folds_and_the_commit_converges_on_the_next_run(
        small, tmp_path, monkeypatch):
    one_go = _first_landing_in_one_go(small, tmp_path)
    with fault_armed(monkeypatch, "before_index_commit:1:raise"), pytest.raises(
            faults.InjectedFault):
        _distributed(small, "5" * 32)
    with connect(small.warehouse) as conn:
        assert id_index.segments(conn) == []  # nothing of the plan was committed
        index_folds.release(conn, small, "5" * 32)  # its run has ended
    _distributed(small, "6" * 32)
    assert warehouse_state(small) == warehouse_state(one_go)
    with connect(small.warehouse) as conn:
        listed = {s.name for s in id_index.segments(conn)}
    assert _segment_files(small) == listed


def test_the_graph_folds_each_range_in_a_step_of_its_own(settings, dagster_instance, tmp_path,
                                                          monkeypatch):
    """CITY_USAGE_FOLD_STEPS: the ingestion graph plans the folds in its warehouse step, runs
    one `fold_index_range` step per bucket range and commits them in the last step, with the
    same result as the warehouse step folding them itself (the default)."""
    end = date(2026, 3, 10)
    results = {}
    for fold_steps in ("0", "1"):
        monkeypatch.setenv("CITY_USAGE_DATA_DIR", str(tmp_path / f"fold-steps-{fold_steps}"))
        monkeypatch.setenv("CITY_USAGE_FOLD_STEPS", fold_steps)
        monkeypatch.setenv("CITY_USAGE_INDEX_ROWS_PER_FOLD", "150")
        cfg = Environment.load().settings()
        write_sample_landing(cfg.usage_landing, days=3, events_per_day=200, seed=97, end=end)
        # what a run that died before its commit left: its plan, and a segment its fold wrote
        where = id_index.location(cfg)
        dead = where.path(id_index.bucket_folder(1), f"000000001-{DEAD_RUN}-0123456789ab.parquet")
        where.write_bytes(dead, b"a dead run's segment")
        with connect(cfg.warehouse) as conn:
            conn.execute("INSERT INTO usage_index_plans VALUES ($plan, now())",
                         {"plan": DEAD_RUN})
        run = materialize_days(cfg, dagster_instance, date(2026, 3, 8), end)
        assert run.success
        steps = {e.step_key for e in run.all_events if e.step_key}
        folds = {s for s in steps if s.startswith("build_usage_events.fold_index_range[")}
        results[fold_steps] = (warehouse_state(cfg), sorted(map(str, read_curated(cfg))))
        with connect(cfg.warehouse) as conn:
            # the dead run's plan released, this run's committed
            assert id_index.in_flight_plans(conn) == set()
            listed = {s.name for s in id_index.segments(conn)}
        assert not where.exists(dead)
        assert _segment_files(cfg) == listed  # no orphan left
        if fold_steps == "1":
            # 600+ rows of the sample over 150-row ranges: several fold steps, whose plan (named
            # after the run) was committed, not redone as a new update
            assert len(folds) > 1
            assert all(f"-{run.run_id.replace('-', '')}-" in name for name in listed)
        else:
            assert folds == set()
    assert results["1"] == results["0"]
