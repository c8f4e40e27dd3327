"""Settled landed files on an object store (a real S3 server, moto, on 127.0.0.1): a file
listed long after its last write is recorded as settled, and from then on its unchanged size
and time alone say its bytes are unchanged, so a run reads no footer of the history again.
A file written shortly before its listing, or read by a read step before the listing that
records it, is checked by its footer until a later listing settles it."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.s3_server import S3Server, s3_fixture  # noqa: F401 - provides `s3`
from tests.usage.helpers_landing import NOW, valid_row
from usage_model import clock
from usage_model.config import Settings
from usage_model.usage.ingest import scan_landing
from usage_model.usage.landing import (
    LandedFile,
    StoredIdentity,
    footer_fingerprint,
    list_landed_files,
    same_content,
    settles,
)
from usage_model.warehouse import connect

PATH = "dt=2026-03-05/part-0.parquet"


def _parquet(ids: list[str]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([valid_row(i) for i in ids]), sink)
    return sink.getvalue()


@pytest.fixture
def on_s3(settings: Settings, s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CITY_USAGE_LANDING", s3.new_bucket() + "/landing")
    return Settings.from_env()


def _land(settings: Settings, data: bytes) -> LandedFile:
    """Upload one usage file; returns it as listed now (real clock)."""
    where = settings.usage_landing_location()
    where.write_bytes(where.path(PATH), data)
    return _listed(settings)


def _listed(settings: Settings) -> LandedFile:
    (landed,) = list_landed_files(settings.usage_landing_location())
    return landed


def _written_at(landed: LandedFile) -> datetime:
    return datetime.fromtimestamp(landed.mtime_ns / 1e9, UTC)


def _settled_at(settings: Settings) -> int | None:
    with connect(settings.warehouse) as conn:
        return conn.execute("SELECT settled_at_ns FROM usage_files").fetchone()[0]


def test_a_file_listed_over_fifteen_minutes_after_its_write_settles(on_s3: Settings):
    written = _written_at(_land(on_s3, _parquet(["e1"])))
    with clock.pinned(written + timedelta(minutes=14)):
        assert settles(_listed(on_s3)) is None
    with clock.pinned(written + timedelta(minutes=16)) as listed:
        assert settles(_listed(on_s3)) == int(listed.timestamp()) * 10**9


def test_a_settled_file_is_trusted_without_reading_its_footer(on_s3: Settings):
    landed = _land(on_s3, _parquet(["e1", "e2"]))
    # The manifest's footer is deliberately wrong: only a read of the footer could notice.
    stored = StoredIdentity(landed.size_bytes, landed.mtime_ns, landed.ctime_ns,
                            footer_sha256="0" * 64, fingerprint="f" * 64)
    assert not same_content(landed, stored)  # not settled: the footer is read and differs
    settled = StoredIdentity(landed.size_bytes, landed.mtime_ns, landed.ctime_ns,
                             footer_sha256="0" * 64, fingerprint="f" * 64, settled_at_ns=1)
    assert same_content(landed, settled)
    # A rewrite is still seen by its size or time, settled or not.
    assert not same_content(landed, StoredIdentity(landed.size_bytes + 1, landed.mtime_ns,
                                                   landed.ctime_ns, "0" * 64, "f" * 64, 1))


def test_the_scan_records_settling_and_a_later_listing_settles_a_recent_file(on_s3: Settings):
    landed = _land(on_s3, _parquet(["e1", "e2"]))
    written = _written_at(landed)
    with connect(on_s3.warehouse) as conn:
        with clock.pinned(written + timedelta(minutes=1)):
            first = scan_landing(conn, on_s3, now=NOW)
        assert first.new_files == [PATH]
        assert _settled_at(on_s3) is None  # written a minute before its listing
        with clock.pinned(written + timedelta(hours=1)) as later:
            again = scan_landing(conn, on_s3, now=NOW)
        assert again.new_files == again.changed_files == []  # the footer matched
        assert _settled_at(on_s3) == int(later.timestamp()) * 10**9
        footer = conn.execute("SELECT footer_sha256 FROM usage_files").fetchone()[0]
        assert footer == footer_fingerprint(landed.absolute, landed.fs)


def test_a_file_read_long_after_its_write_is_settled_by_its_first_scan(on_s3: Settings):
    written = _written_at(_land(on_s3, _parquet(["e1"])))
    with connect(on_s3.warehouse) as conn, clock.pinned(written + timedelta(days=2)) as at:
        scan_landing(conn, on_s3, now=NOW)
    assert _settled_at(on_s3) == int(at.timestamp()) * 10**9


def test_a_rewritten_settled_file_is_scanned_again(on_s3: Settings):
    written = _written_at(_land(on_s3, _parquet(["e1"])))
    with connect(on_s3.warehouse) as conn:
        with clock.pinned(written + timedelta(days=2)):
            scan_landing(conn, on_s3, now=NOW)
        assert _settled_at(on_s3) is not None
        _land(on_s3, _parquet(["e1", "e2", "e3"]))  # a new size (and a new server time)
        with clock.pinned(written + timedelta(days=3)):
            again = scan_landing(conn, on_s3, now=NOW)
        assert again.changed_files == [PATH]
        assert conn.execute("SELECT rows_valid FROM usage_files").fetchone()[0] == 3
