"""The daily summaries' days computed by steps away from the warehouse
(usage_model/usage/summary_exchange.py) and committed by the warehouse step: the same tables
as the one-step build; a day rebuilt, or a curated file replaced, between the computation and
the commit is computed again; a missing or broken stored day is computed in the commit; a
commit killed before it commits leaves the work to the next one. Real Parquet files, a real
DuckDB file, separate processes for the compute steps, and the real Dagster graph."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from assets.resources import SummaryDaysIOManager
from assets.usage import definitions as usage_defs
from assets.usage.summaries import compute_summary_days
from tests.dagster_runs import materialize_days, resources
from tests.usage.helpers_landing import NOW, ingest, land, valid_row
from usage_model.config import Environment, Settings
from usage_model.usage import intents, layout, summaries, summary_exchange
from usage_model.usage.file_reads import exchange_location
from usage_model.usage.intents import DAILY_TABLES
from usage_model.usage.sample import write_sample_landing
from usage_model.warehouse import connect

END = date(2026, 3, 9)
DAYS = [END - timedelta(days=n) for n in (2, 1, 0)]
RUN = "run-1"


@pytest.fixture
def landed(settings: Settings) -> Settings:
    write_sample_landing(settings.usage_landing, days=3, events_per_day=300, seed=5151, end=END)
    ingest(settings)
    return settings


def _tables(settings: Settings) -> dict[str, list[tuple]]:
    with connect(settings.warehouse) as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
                for t in DAILY_TABLES}


def _one_step(settings: Settings) -> dict[str, list[tuple]]:
    """The tables as the warehouse step alone builds them (no compute steps)."""
    with connect(settings.warehouse) as conn:
        summaries.build_daily(conn, settings, DAYS)
    return _tables(settings)


def _compute_apart(settings: Settings, steps: int = 2) -> list[summary_exchange.DayTask]:
    """What the plan and compute steps do, each share in a process of its own."""
    with connect(settings.warehouse) as conn:
        shares = summary_exchange.plan_days(conn, DAYS, steps)
    assert len(shares) == steps and sorted(t.day for s in shares for t in s) == DAYS
    with ProcessPoolExecutor(steps, mp_context=get_context("spawn")) as pool:
        done = pool.map(summary_exchange.compute_days, [settings] * steps, shares,
                        [RUN] * steps)
        return [task for share in done for task in share]


def _commit(settings: Settings, done: list[summary_exchange.DayTask]
            ) -> summary_exchange.StoredDays:
    stored = summary_exchange.StoredDays(settings, RUN, done)
    with connect(settings.warehouse) as conn:
        summaries.build_daily(conn, settings, DAYS, DAILY_TABLES, stored)
    return stored


def _day_calls(settings: Settings, table: str, day: date) -> int:
    with connect(settings.warehouse) as conn:
        return conn.execute(f"SELECT sum(calls) FROM {table} WHERE day = $d",
                            {"d": day}).fetchall()[0][0]


def _curated_rows(settings: Settings, day: date) -> int:
    return pq.read_metadata(layout.day_path(settings.events_location(), day)).num_rows


def test_days_computed_apart_commit_the_tables_one_step_builds(landed: Settings):
    expected = _one_step(landed)
    assert all(expected[t] for t in DAILY_TABLES)
    with connect(landed.warehouse) as conn:  # start from nothing: every row is inserted
        for table in DAILY_TABLES:
            conn.execute(f"DELETE FROM {table}")
    stored = _commit(landed, _compute_apart(landed))
    assert stored.used == len(DAYS) and stored.unusable == []  # every day as stored
    assert _tables(landed) == expected
    summary_exchange.remove_stored(landed, RUN)
    root = Path(exchange_location(landed).root)
    assert not any(root.rglob("*.parquet"))


def test_a_day_rebuilt_after_its_computation_is_computed_again(landed: Settings):
    done = _compute_apart(landed)
    # Another run lands and builds more calls on the middle day before this commit.
    day = DAYS[1]
    rows = [valid_row(f"late-{n}", occurred_at=datetime(2026, 3, 8, 9, n, tzinfo=NOW.tzinfo))
            for n in range(7)]
    land(landed, "late/extra.parquet", rows)
    before = _curated_rows(landed, day)
    ingest(landed, only_touched=True)  # rebuilds that day only
    assert _curated_rows(landed, day) == before + 7

    stored = _commit(landed, done)
    assert stored.used == len(DAYS) - 1
    assert len(stored.unusable) == 1 and stored.unusable[0].startswith(f"{day}: ")
    assert "rebuilt" in stored.unusable[0]
    for table in DAILY_TABLES:
        assert _day_calls(landed, table, day) == before + 7
    assert _tables(landed) == _one_step(landed)


def test_a_curated_file_replaced_without_a_new_build_is_computed_again(landed: Settings):
    """A build killed after it published a day file but before its commit leaves the day's
    generation as it was: the file's size and time still tell the stored day is stale."""
    done = _compute_apart(landed)
    day = DAYS[0]
    path = layout.day_path(landed.events_location(), day)
    pq.write_table(pq.read_table(path).slice(0, 50), path)
    stored = _commit(landed, done)
    assert [u.split(":")[0] for u in stored.unusable] == [day.isoformat()]
    for table in DAILY_TABLES:
        assert _day_calls(landed, table, day) == 50


def test_missing_or_broken_stored_days_are_computed_in_the_commit(
    landed: Settings, caplog: pytest.LogCaptureFixture
):
    expected = _one_step(landed)
    done = _compute_apart(landed)
    where = exchange_location(landed)
    folder = {d: where.path(RUN, summary_exchange.FOLDER, d.isoformat()) for d in DAYS}
    Path(folder[DAYS[0]], summary_exchange.IDENTITY_NAME).unlink()  # never finished
    Path(folder[DAYS[1]], "usage_daily_by_city.parquet").write_bytes(b"not parquet")
    renamed = pq.read_table(Path(folder[DAYS[2]], "usage_daily_by_user.parquet"))
    pq.write_table(renamed.rename_columns([*renamed.column_names[:-1], "surprise"]),
                   Path(folder[DAYS[2]], "usage_daily_by_user.parquet"))
    stored = _commit(landed, done)
    assert stored.used == 0
    problems = dict(u.split(": ", 1) for u in stored.unusable)
    assert set(problems) == {d.isoformat() for d in DAYS}
    assert "identity.json: missing" in problems[DAYS[0].isoformat()]
    assert "usage_daily_by_city.parquet: not readable" in problems[DAYS[1].isoformat()]
    assert "usage_daily_by_user.parquet: columns" in problems[DAYS[2].isoformat()]
    assert all("\n" not in line for line in stored.unusable)
    assert _tables(landed) == expected


def test_a_day_a_compute_step_cannot_store_is_computed_in_the_commit(
    landed: Settings, caplog: pytest.LogCaptureFixture
):
    expected = _one_step(landed)
    # The run's folder on the exchange is taken by a file: nothing can be stored under it.
    blocker = Path(exchange_location(landed).path(RUN))
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_bytes(b"")
    with connect(landed.warehouse) as conn:
        (share,) = summary_exchange.plan_days(conn, DAYS, 1)
    assert summary_exchange.compute_days(landed, share, RUN) == []
    warned = [r.getMessage() for r in caplog.records if r.name == summary_exchange.log.name]
    assert [line.split(":")[0] for line in warned] == [f"summaries of {day}" for day in DAYS]
    assert all("computing in the step failed" in line and "\n" not in line for line in warned)
    stored = _commit(landed, [])
    assert stored.used == 0 and stored.unusable == []
    assert _tables(landed) == expected


def test_a_stored_identity_that_does_not_validate_is_not_used(landed: Settings):
    done = _compute_apart(landed, steps=1)
    path = Path(exchange_location(landed).path(RUN, summary_exchange.FOLDER,
                                               DAYS[2].isoformat(),
                                               summary_exchange.IDENTITY_NAME))
    path.write_text(path.read_text().replace('"size":', '"size":"1",  "extra": 1, "x":'))
    stored = _commit(landed, done)
    assert stored.used == len(DAYS) - 1
    assert stored.unusable and "identity.json: key" in stored.unusable[0]


_COMMIT = """
import sys
from usage_model.config import Settings
from usage_model.usage import summaries, summary_exchange
from usage_model.warehouse import connect
settings = Settings.from_env()
done = summary_exchange.DAY_TASKS.validate_json(sys.argv[1])
stored = summary_exchange.StoredDays(settings, "run-1", done)
with connect(settings.warehouse) as conn:
    summaries.build_daily(conn, settings, [task.day for task in done], stored=stored)
"""


def test_a_commit_killed_before_it_commits_converges(landed: Settings):
    expected = _one_step(landed)
    with connect(landed.warehouse) as conn:  # the days' summaries are owed again
        intents.record_events_rebuilt(conn, DAYS)
        for table in DAILY_TABLES:
            conn.execute(f"DELETE FROM {table}")
    done = _compute_apart(landed)
    killed = subprocess.run(
        [sys.executable, "-c", _COMMIT, summary_exchange.DAY_TASKS.dump_json(done).decode()],
        env={**os.environ, "CITY_USAGE_FAULT_POINT": "before_daily_commit:1"},
        capture_output=True, text=True, timeout=120,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert all(rows == [] for rows in _tables(landed).values())  # nothing committed
    with connect(landed.warehouse) as conn:
        assert intents.pending(conn, DAILY_TABLES) == set(DAYS)  # still owed, durably
    stored = _commit(landed, done)  # the next commit: the stored days are still usable
    assert stored.used == len(DAYS)
    assert _tables(landed) == expected
    with connect(landed.warehouse) as conn:
        assert intents.pending(conn, DAILY_TABLES) == set()


def _step_keys(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.step_key for e in result.all_events if e.step_key
            and e.step_key.startswith("build_daily_summaries")}


def test_the_graph_fans_the_days_out_in_steps(
    settings: Settings, dagster_instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
):
    write_sample_landing(settings.usage_landing, days=3, events_per_day=200, seed=97, end=END)
    monkeypatch.setenv("CITY_USAGE_SUMMARY_STEPS", "2")
    result = materialize_days(settings, dagster_instance, DAYS[0], END)
    assert result.success
    assert _step_keys(result) == {
        "build_daily_summaries.plan_summary_days",
        "build_daily_summaries.compute_summary_days[0]",
        "build_daily_summaries.compute_summary_days[1]",
        "build_daily_summaries.commit_summaries",
    }
    events = [m for m in result.asset_materializations_for_node("build_daily_summaries")
              if m.partition == END.isoformat()]
    assert {m.asset_key.path[-1] for m in events} == set(DAILY_TABLES)
    assert {m.metadata["days_from_compute_steps"].value for m in events} == {len(DAYS)}
    assert {tuple(m.metadata["stored_days_unusable"].value) for m in events} == {()}
    checks = [c for c in result.get_asset_check_evaluations()
              if c.check_name == "totals_match_events"]
    assert len(checks) == len(DAILY_TABLES) and all(c.passed for c in checks)
    fanned = _tables(settings)
    assert fanned == _one_step(settings)  # as the warehouse step alone builds them
    # The stored days are gone once committed; only the steps' small outputs stay.
    root = Path(exchange_location(settings).root)
    assert not list(root.rglob(f"{summary_exchange.FOLDER}/*"))


def test_a_run_selecting_one_daily_table_builds_only_it(
    settings: Settings, dagster_instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
):
    write_sample_landing(settings.usage_landing, days=3, events_per_day=200, seed=97, end=END)
    ingest(settings)  # the days built: their summaries are owed (pending intents)
    monkeypatch.setenv("CITY_USAGE_SUMMARY_STEPS", "2")
    result = dg.materialize(
        [usage_defs.usage_events, usage_defs.daily_summaries], instance=dagster_instance,
        resources=resources(settings), partition_key=END.isoformat(),
        selection=[dg.AssetKey("usage_daily_by_city")],
    )
    assert result.success
    assert {m.asset_key.path[-1] for m in
            result.asset_materializations_for_node("build_daily_summaries")} == {
        "usage_daily_by_city"}
    assert [c.asset_key.path[-1] for c in result.get_asset_check_evaluations()] == [
        "usage_daily_by_city"]
    tables = _tables(settings)
    # Its own partition and the pending days, for that table only; the others stay owed.
    assert {row[0] for row in tables["usage_daily_by_city"]} == set(DAYS)
    assert all(tables[t] == [] for t in DAILY_TABLES if t != "usage_daily_by_city")
    with connect(settings.warehouse) as conn:
        assert intents.pending(conn, ["usage_daily_by_model"]) == set(DAYS)
        assert intents.pending(conn, ["usage_daily_by_city"]) == set()


def test_summary_steps_setting_is_read_and_checked(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CITY_USAGE_SUMMARY_STEPS", raising=False)
    assert Environment.load().settings().summary_steps == 0  # embedded: no compute steps
    monkeypatch.setenv("CITY_USAGE_SUMMARY_STEPS", "3")
    assert Environment.load().settings().summary_steps == 3
    monkeypatch.setenv("CITY_USAGE_SUMMARY_STEPS", "-1")
    with pytest.raises(Exception, match="CITY_USAGE_SUMMARY_STEPS"):
        Environment.load()


def test_no_days_plan_no_step(landed: Settings):
    with connect(landed.warehouse) as conn:
        assert summary_exchange.plan_days(conn, [], 2) == []
        assert summary_exchange.plan_days(conn, DAYS, 0) == []
        shares = summary_exchange.plan_days(conn, DAYS[:1], 4)
    assert len(shares) == 1 and shares[0][0].built_us is not None



def test_a_step_output_that_does_not_validate_is_loaded_as_nothing(settings: Settings):
    """The plan's and compute steps' outputs are JSON on the exchange (never pickle); one
    that does not validate hands on no day, so the commit step computes those itself."""
    manager = SummaryDaysIOManager()
    output = dg.build_output_context(
        run_id=RUN, step_key="build_daily_summaries.plan", name="result", mapping_key="0",
        dagster_type=compute_summary_days.output_defs[0].dagster_type)  # its declared type
    tasks = [summary_exchange.DayTask(END, 1_700_000_000_000_000)]
    manager.handle_output(output, tasks)
    assert manager.load_input(dg.build_input_context(upstream_output=output)) == tasks
    (stored,) = Path(exchange_location(settings).root).rglob("0")
    stored.write_text('[{"day": "2026-03-09", "built_us": "1"}]')  # a string, not a number
    assert manager.load_input(dg.build_input_context(upstream_output=output)) == []
    stored.write_bytes(pickle.dumps(tasks))
    assert manager.load_input(dg.build_input_context(upstream_output=output)) == []
