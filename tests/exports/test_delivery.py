"""Snapshot sinks against real receivers and files: versions, supersedes, retries, secrets,
and a process killed after sending and before recording never delivers twice."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.exports.helpers import write_daily_by_user
from tests.exports.receiver import Receiver
from usage_model.config import Settings
from usage_model.exports import ledger
from usage_model.exports.factory import make_sink
from usage_model.exports.runner import run_export
from usage_model.exports.sinks import DeliveryFailed
from usage_model.hooks.config import load_config
from usage_model.hooks.protocol import Period
from usage_model.warehouse import connect

SECRET = "whsec_test_0123456789"
DAY = Period.from_key("day", "2026-03-05")
ROWS = [(date(2026, 3, 5), "c1", "u1", 3, 10, 20), (date(2026, 3, 5), "c1", "u2", 1, 5, 0),
        (date(2026, 3, 6), "c1", "u1", 9, 9, 9)]


def _config(settings: Settings, exports_yaml: str):
    settings.config_file.write_text("exports:\n" + exports_yaml)
    return load_config(settings.config_file)


def _run(settings: Settings, export):
    with connect(settings.warehouse) as conn:
        setup = make_sink(export, settings, conn)
        if hasattr(setup.sink, "backoff_s"):
            setup.sink.backoff_s = 0.01
        return run_export(conn, export, DAY, setup.sink, diff=setup.diff)


def _webhook(settings: Settings, url: str, **extra: object):
    opts = "".join(f", {k}: {v}" for k, v in extra.items())
    config = _config(settings, f"  billing: {{sink: webhook, source: usage_daily_by_user,"
                               f" url: '{url}', secret_env: HOOK_SECRET{opts}}}\n")
    return config.exports["billing"]


def test_webhook_batch_signed_versioned_and_superseded(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    write_daily_by_user(settings, ROWS)
    with Receiver(SECRET) as receiver:
        export = _webhook(settings, receiver.url)
        first = _run(settings, export)
        again = _run(settings, export)  # same data: nothing new is sent
        write_daily_by_user(settings, ROWS + [(date(2026, 3, 5), "c2", "u3", 1, 1, 1)])
        late = _run(settings, export)
    assert (first.versions_delivered, again.status, late.versions_delivered) == ([1], "up_to_date",
                                                                                 [2])
    assert receiver.bad_signatures == 0 and not receiver.duplicates
    v1 = receiver.applied["billing:2026-03-05:1"]
    assert {k: v1[k] for k in ("export", "source", "period", "version", "supersedes")} == {
        "export": "billing", "source": "usage_daily_by_user", "period": "2026-03-05",
        "version": 1, "supersedes": None}
    assert [(r["user_id"], r["calls"], r["day"]) for r in v1["rows"]] == [
        ("u1", 3, "2026-03-05"), ("u2", 1, "2026-03-05")]  # only the period's rows
    v2 = receiver.applied["billing:2026-03-05:2"]
    assert v2["supersedes"] == 1 and len(v2["rows"]) == 3


def test_webhook_retries_5xx_then_delivers_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    write_daily_by_user(settings, ROWS)
    with Receiver(SECRET) as receiver:
        receiver.fail_next = 2
        outcome = _run(settings, _webhook(settings, receiver.url, max_attempts=3))
    assert outcome.versions_delivered == [1] and receiver.requests == 3
    assert list(receiver.applied) == ["billing:2026-03-05:1"]
    with connect(settings.warehouse) as conn:
        assert conn.execute("SELECT status, attempts FROM export_ledger").fetchall() == [
            ("delivered", 1)]


def test_webhook_failure_keeps_version_pending_and_never_leaks_the_secret(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    write_daily_by_user(settings, ROWS)
    with Receiver(SECRET) as receiver:
        receiver.fail_next = 10
        export = _webhook(settings, receiver.url, max_attempts=2)
        with pytest.raises(DeliveryFailed) as info:
            _run(settings, export)
        assert "HTTP 503 after 2 attempt(s)" in str(info.value)
        receiver.fail_next = 0
        retry = _run(settings, export)  # the pending version is finished, not re-versioned
    assert retry.resent_pending == [1] and retry.versions_delivered == []
    assert list(receiver.applied) == ["billing:2026-03-05:1"]
    with connect(settings.warehouse) as conn:
        details = " ".join(str(r) for r in conn.execute("SELECT * FROM export_ledger").fetchall())
    assert SECRET not in details and SECRET not in str(info.value)


def test_webhook_missing_secret_is_one_line_naming_the_variable(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOOK_SECRET", raising=False)
    write_daily_by_user(settings, ROWS)
    with pytest.raises(DeliveryFailed, match="environment variable HOOK_SECRET"):
        _run(settings, _webhook(settings, "http://127.0.0.1:9/hook"))


def test_webhook_4xx_is_final(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "not-the-receivers-secret")
    write_daily_by_user(settings, ROWS)
    with Receiver(SECRET) as receiver, pytest.raises(DeliveryFailed, match="HTTP 401 .not ret"):
        _run(settings, _webhook(settings, receiver.url))
    assert receiver.bad_signatures == 1 and not receiver.applied


KILLED_SENDER = """
import sys
from usage_model.config import Settings
from usage_model.exports.factory import make_sink
from usage_model.exports.runner import run_export
from usage_model.hooks.config import load_config
from usage_model.hooks.protocol import Period
from usage_model.warehouse import connect
settings = Settings.from_env()
export = load_config(settings.config_file).exports["billing"]
with connect(settings.warehouse) as conn:
    run_export(conn, export, Period.from_key("day", "2026-03-05"),
               make_sink(export, settings, conn).sink)
"""


def test_sender_killed_after_send_before_commit_never_delivers_twice(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    write_daily_by_user(settings, ROWS)
    with Receiver(SECRET) as receiver:
        export = _webhook(settings, receiver.url, timeout_s=30)
        receiver.hold = True  # apply the batch, then keep the response open
        proc = subprocess.Popen([sys.executable, "-c", KILLED_SENDER], env=dict(os.environ),
                                cwd=Path(__file__).resolve().parents[2])
        try:
            assert receiver.got_batch.wait(30), "the sender never reached the receiver"
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        receiver.release()
        assert proc.returncode == -signal.SIGKILL
        with connect(settings.warehouse) as conn:  # the crash left the intent, not the outcome
            assert ledger.latest(conn, "billing", "2026-03-05").status == "pending"
        rerun = _run(settings, export)
        rerun_again = _run(settings, export)
    assert rerun.resent_pending == [1] and rerun_again.status == "up_to_date"
    assert list(receiver.applied) == ["billing:2026-03-05:1"]  # applied once
    assert receiver.duplicates == {"billing:2026-03-05:1": 1}  # the resend was absorbed
    with connect(settings.warehouse) as conn:
        assert conn.execute("SELECT version, status FROM export_ledger").fetchall() == [
            (1, "delivered")]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_files_export_with_manifest_and_superseding_version(settings: Settings, fmt: str) -> None:
    write_daily_by_user(settings, ROWS)
    config = _config(settings, f"  daily: {{sink: files, source: usage_daily_by_user,"
                               f" format: {fmt}}}\n")
    first = _run(settings, config.exports["daily"])
    write_daily_by_user(settings, ROWS[:1])  # u2 disappears from the day on rebuild
    second = _run(settings, config.exports["daily"])
    assert (first.versions_delivered, second.versions_delivered) == ([1], [2])
    folder = settings.exports / "daily" / "2026-03-05"
    manifest = json.loads((folder / "manifest.json").read_text())
    data = (folder / manifest["file"]).read_bytes()
    assert manifest["file"] == f"v0002.{fmt}" and manifest["supersedes"] == 1
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["rows"] == 1 and manifest["version"] == 2
    assert [c["name"] for c in manifest["schema"]][:3] == ["day", "city_id", "user_id"]
    assert json.loads((folder / "v0001.manifest.json").read_text())["rows"] == 2
    if fmt == "parquet":
        assert pq.read_table(folder / "v0002.parquet").column("user_id").to_pylist() == ["u1"]
    elif fmt == "jsonl":
        assert [json.loads(line)["calls"] for line in data.splitlines()] == [3]
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_python_sink_gets_the_batch(settings: Settings, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "billing_hook.py").write_text(
        "seen = []\n"
        "def sync(batch):\n"
        "    seen.append((batch.idempotency_key, batch.supersedes, len(batch.rows)))\n"
        "    return len(batch.rows)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    write_daily_by_user(settings, ROWS)
    config = _config(settings, "  sync: {sink: python, source: usage_daily_by_user,"
                               " hook: 'billing_hook:sync'}\n")
    outcome = _run(settings, config.exports["sync"])
    import billing_hook

    assert billing_hook.seen == [("sync:2026-03-05:1", None, 2)]
    assert outcome.notes == ["billing_hook:sync returned 2"]


def test_webhook_throughput(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Figure for the report: batches/s to a local receiver (asserts only a sane floor)."""
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    days = [f"2026-03-{d:02d}" for d in range(1, 31)]
    write_daily_by_user(settings, [(date.fromisoformat(d), "c1", f"u{i}", 1, 1, 1)
                                   for d in days for i in range(200)])
    with Receiver(SECRET) as receiver:
        export = _webhook(settings, receiver.url)
        start = time.perf_counter()
        with connect(settings.warehouse) as conn:
            setup = make_sink(export, settings, conn)
            for d in days:
                run_export(conn, export, Period.from_key("day", d), setup.sink)
        elapsed = time.perf_counter() - start
    assert len(receiver.applied) == 30 and not receiver.duplicates
    print(f"\nwebhook: 30 batches x 200 rows in {elapsed:.2f} s = {30 / elapsed:.1f} batches/s")
    assert elapsed < 30
