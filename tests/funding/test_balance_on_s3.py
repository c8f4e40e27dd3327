"""Downcity's balance exports landed on S3 (`CITY_USAGE_LANDING=s3://…`, a real S3 server on
127.0.0.1) load exactly as from a local landing folder: same tables, same rejects."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow.parquet as pq
import pytest

from tests.s3_server import S3Server, s3_fixture  # noqa: F401 - provides `s3`
from usage_model.config import Settings
from usage_model.funding import downcity
from usage_model.funding.sample import write_sample_balance
from usage_model.warehouse import connect

USERS = [f"u-{i:04d}" for i in range(40)]
END = date(2026, 11, 23)
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
TABLES = ("downcity_topups", "downcity_payments", "downcity_ledger", "downcity_accounts",
          "downcity_charges", "downcity_rejects")


def _load(settings: Settings) -> dict[str, list[tuple]]:
    with connect(settings.warehouse) as conn:
        downcity.load(conn, settings.balance_landing_location(), NOW)
        return {t: conn.execute(f"SELECT * EXCLUDE (rejected_at) FROM {t} ORDER BY ALL"
                                if t == "downcity_rejects" else
                                f"SELECT * FROM {t} ORDER BY ALL").fetchall()
                for t in TABLES}


def _land(settings: Settings) -> None:
    balance = settings.balance_landing_location()
    write_sample_balance(balance, settings.stripe_events_location(), USERS, seed=3, end=END)
    # One unreadable file beside the good ones: rejected by name, the rest still load.
    path = balance.path("topups", "dt=2026-11-23", "truncated.parquet")
    with balance.fs.open_output_stream(path) as out:
        out.write(b"PAR1 not really parquet")


def test_balance_exports_on_s3_load_like_local_ones(
    settings: Settings, s3: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path
):
    _land(settings)
    local = _load(settings)

    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CITY_USAGE_LANDING", s3.new_bucket() + "/landing")
    monkeypatch.setenv("CITY_USAGE_DATA_DIR", str(tmp_path / "on-s3"))
    on_s3 = Settings.from_env()
    balance = on_s3.balance_landing_location()
    assert not balance.is_local and balance.uri.endswith("/landing/balance")
    _land(on_s3)
    assert not on_s3.balance_landing.exists()  # nothing landed locally
    topups = balance.path("topups", "dt=2026-11-23", "service_balance_topups.parquet")
    with balance.fs.open_input_file(topups) as handle:
        assert pq.read_table(handle).num_rows > 0
    remote = _load(on_s3)

    assert remote == local
    assert len(remote["downcity_topups"]) > 0 and len(remote["downcity_ledger"]) > 0
    rejects = remote["downcity_rejects"]
    assert [(r[0], r[2]) for r in rejects] == [
        ("topups/dt=2026-11-23/truncated.parquet", "unreadable_file")]
    assert rejects[0][3].startswith("topups/dt=2026-11-23/truncated.parquet: not a readable "
                                    "Parquet file")
