"""A read step's stored result (usage_model/usage/stored_scan.py) and its steps' outputs
(assets/resources.py, ReadsIOManager) travel as JSON and Parquet, never pickle: a real scan of
real landed files survives the round trip, and each malformed object is rejected with one
line naming the object and the key (the warehouse step then reads the file itself:
tests/usage/test_read_steps.py)."""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.resources import ReadsIOManager
from assets.usage.assets import read_files
from tests.usage.helpers_landing import NOW, land, valid_row
from usage_model.config import Settings
from usage_model.storage import Location, location
from usage_model.usage import scanned, stored_scan
from usage_model.usage.file_reads import ReadTask
from usage_model.usage.file_scan import FileScan, ScanJob, read_file
from usage_model.usage.landing import list_landed_files

ROOT = Path(__file__).resolve().parents[2]


def _scan(settings: Settings, name: str, rows: list | bytes) -> FileScan:
    """A real read of one real landed file, as a read step does it."""
    land(settings, name, rows)
    (landed,) = [f for f in list_landed_files(settings.usage_landing_location())
                 if f.path == name]
    scanned_root = scanned.folder(settings)
    scanned_root.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as conn:
        return read_file(conn, ScanJob(landed, scanned_root, "UTC", NOW))


@pytest.fixture
def where(tmp_path: Path) -> Location:
    return location(tmp_path / "exchange")


@pytest.fixture
def folder(where: Location) -> str:
    """Where one file's result is stored (file_reads keys it by run and file)."""
    return where.path("run-1", "key-1")


def _mixed(settings: Settings) -> FileScan:
    return _scan(settings, "dt=a/mixed.parquet", [
        valid_row("e1"), valid_row("e2", input_tokens=7),
        valid_row("", input_tokens=3),  # missing event id: quarantined
        valid_row("neg", output_tokens=-5),  # negative tokens: quarantined
    ])


def test_a_read_file_survives_the_round_trip(settings: Settings, where: Location, folder: str):
    scan = _mixed(settings)
    stored_scan.store(where, folder, scan)
    back = stored_scan.load(where, folder)
    assert back.totals == scan.totals and back.totals[:2] == (4, 2)
    assert back.day_counts.equals(scan.day_counts)
    assert back.quarantine.equals(scan.quarantine) and back.quarantine.num_rows == 2
    assert (back.fingerprint, back.footer_sha256, back.shape, back.rejection) == (
        scan.fingerprint, scan.footer_sha256, scan.shape, None)
    assert back.temporary is None  # the rows travel as their own Parquet file
    record = json.loads(Path(folder, stored_scan.SCAN_NAME).read_text())
    assert record["totals"]["min_day"] == scan.totals[2].isoformat()  # dates as ISO text


def test_a_rejected_file_survives_the_round_trip(settings: Settings, where: Location, folder: str):
    scan = _scan(settings, "dt=a/broken.parquet", b"not a parquet file")
    assert scan.rejection is not None
    stored_scan.store(where, folder, scan)
    back = stored_scan.load(where, folder)
    assert back.rejection == scan.rejection and back.rejection.reason == "unreadable_file"
    assert not Path(folder, stored_scan.DAYS_NAME).exists()


def _edit_record(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        path = folder / stored_scan.SCAN_NAME
        record = json.loads(path.read_text())
        change(record)
        path.write_text(json.dumps(record))
    return edit


def _replace_table(name: str, table: pa.Table) -> Callable[[Path], None]:
    return lambda folder: pq.write_table(table, folder / name)


@pytest.mark.parametrize(("tamper", "named"), [
    (lambda folder: (folder / stored_scan.SCAN_NAME).write_bytes(b"\x80\x04K\x01."),
     "scan.json: key (the object): Invalid JSON"),
    (_edit_record(lambda r: r["totals"].update(rows="4")), "key totals.rows"),
    (_edit_record(lambda r: r["totals"].update(valid=-1)), "key totals.valid"),
    (_edit_record(lambda r: r["totals"].update(min_day="yesterday")), "key totals.min_day"),
    (_edit_record(lambda r: r.update(__reduce__="os.system")), "key __reduce__"),
    (_edit_record(lambda r: r.update(shape="pickle")), "key shape"),
    (_edit_record(lambda r: r.update(format=2)), "key format"),
    (_edit_record(lambda r: r.update(rejection={"reason": "schema_mismatch", "detail": "x",
                                                "row_count": 1})),
     "a rejected file has no shape or totals"),
    (_edit_record(lambda r: r["totals"].update(valid=9)), "totals.valid exceeds totals.rows"),
    (_replace_table(stored_scan.DAYS_NAME, pa.table({"day": ["x"], "n": [2]})),
     "days.parquet: columns ['day', 'n']"),
    (_replace_table(stored_scan.DAYS_NAME, pa.table({"day": [NOW.date()], "rows": [3]})),
     "days.parquet: rows per day do not add up to totals.valid 2"),
    (_replace_table(stored_scan.QUARANTINE_NAME, pa.table(
        {c: [None] for c in stored_scan.QUARANTINE_COLUMNS})),
     "quarantine.parquet: 1 rows, not totals.rows - totals.valid = 2"),
    (lambda folder: (folder / stored_scan.QUARANTINE_NAME).write_bytes(b"PAR1 cut"),
     "quarantine.parquet: not readable"),
])
def test_a_malformed_stored_scan_is_rejected_naming_the_key(
    settings: Settings, where: Location, folder: str, tamper: Callable[[Path], None],
    named: str,
):
    stored_scan.store(where, folder, _mixed(settings))
    tamper(Path(folder))
    with pytest.raises(stored_scan.StoredScanError) as rejected:
        stored_scan.load(where, folder)
    message = str(rejected.value)
    assert named in message and "\n" not in message
    assert message.startswith(folder)  # names the object


TASKS = [ReadTask("dt=a/1.parquet", 120, 1_700_000_000_000_000_001, 1_700_000_000_000_000_002,
                  "Europe/Berlin", datetime(2026, 3, 11, 6, 30, tzinfo=UTC), "UTC")]


def _contexts(run_id: str) -> tuple[dg.OutputContext, dg.InputContext]:
    # The type the read step declares: the IO manager loads what it stored as that type.
    declared = read_files.output_defs[0].dagster_type
    output = dg.build_output_context(run_id=run_id, step_key="build_usage_events.read_files",
                                     name="result", mapping_key="0", dagster_type=declared)
    return output, dg.build_input_context(upstream_output=output)


def test_step_outputs_round_trip_as_json(settings: Settings):
    output, consumer = _contexts("run-a")
    ReadsIOManager().handle_output(output, TASKS)
    assert ReadsIOManager().load_input(consumer) == TASKS
    stored = [p for p in settings.work_root.rglob("*") if p.is_file()]
    assert len(stored) == 1 and json.loads(stored[0].read_text())[0]["path"] == "dt=a/1.parquet"


def test_a_malformed_step_output_is_loaded_as_nothing_read(settings: Settings,
                                                           capsys: pytest.CaptureFixture):
    output, consumer = _contexts("run-b")
    ReadsIOManager().handle_output(output, TASKS)
    (stored,) = [p for p in settings.work_root.rglob("*") if p.is_file()]
    record = json.loads(stored.read_text())
    record[0]["size_bytes"] = "120"
    stored.write_text(json.dumps(record))
    # Nothing counts as stored: the warehouse step reads that file itself.
    assert ReadsIOManager().load_input(consumer) == []
    # Dagster's log of the step: one line naming the object and the key.
    warned = [line for line in capsys.readouterr().err.splitlines() if "WARNING" in line]
    assert len(warned) == 1 and "/_steps/" in warned[0] and "key 0.size_bytes" in warned[0]


def test_no_package_module_imports_pickle():
    importers = []
    for package in ("usage_model", "assets", "pipelines"):
        for module in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                if any(n.split(".")[0] in {"pickle", "cloudpickle", "dill"} for n in names):
                    importers.append(str(module.relative_to(ROOT)))
    assert importers == []
