"""Stripe webhook events landed on S3 (`CITY_USAGE_LANDING=s3://…`; a real S3 server, moto, on
127.0.0.1): the receiver, over real HTTP, keeps the first body of an event id exactly once by a
conditional PUT, even when deliveries race; the sync, the sensor and `city-usage sample-data`
read and write them there exactly as in a local folder."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import httpx
import pyarrow.fs as pafs
import pytest

from assets.funding import definitions as funding_defs
from tests.balance_landing import events_folder
from tests.funding.test_webhook_and_faults import event_body, serving, signed
from tests.s3_server import S3Server, s3_fixture  # noqa: F401 - provides `s3`
from usage_model.config import Settings
from usage_model.funding import downcity
from usage_model.funding.config import FundingConfig
from usage_model.funding.reconcile import reconcile
from usage_model.funding.sample import write_sample_balance
from usage_model.funding.sync import consume_landed
from usage_model.funding.webhook import land_event
from usage_model.warehouse import connect

CLI = str(Path(sys.executable).parent / "city-usage")
USERS = [f"u-{i:04d}" for i in range(40)]
END = date(2026, 11, 23)
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # the morning after END


@pytest.fixture
def on_s3(settings: Settings, s3: S3Server, monkeypatch: pytest.MonkeyPatch,
          tmp_path: Path) -> Settings:
    """Settings whose landing is a fresh bucket's `landing` prefix (own local data folder)."""
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CITY_USAGE_LANDING", s3.new_bucket() + "/landing")
    monkeypatch.setenv("CITY_USAGE_DATA_DIR", str(tmp_path / "on-s3"))
    return Settings.from_env()


def landed_objects(settings: Settings, s3: S3Server) -> dict[str, bytes]:
    """Every object under `<CITY_USAGE_LANDING>/stripe/events/` (the documented place),
    conflicts included, by its name under that prefix; read with pyarrow, not our code."""
    events = s3.location(os.environ["CITY_USAGE_LANDING"] + "/stripe/events")
    listed = events.fs.get_file_info(pafs.FileSelector(events.root, recursive=True,
                                                       allow_not_found=True))
    objects = {}
    for info in listed:
        if info.type == pafs.FileType.File:
            with events.fs.open_input_stream(info.path) as stream:
                objects[info.path.removeprefix(events.root + "/")] = stream.read()
    return objects


def test_receiver_on_s3_keeps_the_first_body_and_records_a_different_one(on_s3, s3):
    first, second = event_body("evt_same"), event_body("evt_same", padding=3)
    with serving(on_s3) as receiver:
        answers = [httpx.post(receiver, content=b, headers=signed(b)).json()
                   for b in (first, first, second, second)]
    assert answers == [{"received": True, "id": "evt_same"},
                       {"received": True, "id": "evt_same"},
                       {"received": True, "id": "evt_same", "conflict": True},
                       {"received": True, "id": "evt_same", "conflict": True}]
    objects = landed_objects(on_s3, s3)
    assert objects.pop("evt_same.json") == first
    ((conflict, body),) = objects.items()
    assert body == second
    assert conflict.startswith("conflicts/evt_same.") and conflict.endswith(".json")
    assert hashlib.sha256(second).hexdigest()[:16] in conflict
    assert not events_folder(on_s3).exists()  # nothing landed locally


def test_deliveries_racing_for_one_id_on_s3_land_exactly_one_body(on_s3, s3):
    bodies = [event_body("evt_race", padding=n) for n in range(8)]
    start = threading.Barrier(len(bodies))
    answers: dict[bytes, dict] = {}

    def deliver(body: bytes, receiver: str) -> None:
        start.wait()
        answers[body] = httpx.post(receiver, content=body, headers=signed(body),
                                   timeout=30).json()

    with serving(on_s3) as receiver:
        threads = [threading.Thread(target=deliver, args=(b, receiver)) for b in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    winners = [body for body, answer in answers.items() if "conflict" not in answer]
    assert len(answers) == len(bodies) and len(winners) == 1
    objects = landed_objects(on_s3, s3)
    assert objects.pop("evt_race.json") == winners[0]
    assert sorted(objects.values()) == sorted(b for b in bodies if b != winners[0])
    assert all(name.startswith("conflicts/evt_race.") for name in objects)


def test_a_landing_that_cannot_be_written_is_answered_503_for_stripe_to_retry(
        on_s3, monkeypatch, caplog):
    monkeypatch.setenv("CITY_USAGE_LANDING", "s3://no-such-bucket-for-events/landing")
    body = event_body("evt_lost")
    with serving(Settings.from_env()) as receiver:
        answer = httpx.post(receiver, content=body, headers=signed(body))
    assert answer.status_code == 503
    assert answer.json() == {"error": "event evt_lost could not be landed; retry"}
    (line,) = [r.getMessage() for r in caplog.records if r.name == "city_usage.webhook"]
    assert "\n" not in line and "NoSuchBucket" in line
    assert "s3://no-such-bucket-for-events/landing/stripe/events/evt_lost.json" in line


def _consume(settings: Settings) -> tuple[list[tuple], list[tuple], list[str]]:
    """Load the Downcity exports, consume the landed events and reconcile: the ledger, the
    consumed events and the rejected files."""
    with connect(settings.warehouse) as conn:
        downcity.load(conn, settings.balance_landing_location(), NOW)
        landed = consume_landed(conn, settings.stripe_events_location(), None, now=NOW)
        reconcile(conn, FundingConfig(), key_livemode=False, now=NOW)
        ledger = conn.execute("SELECT ref, user_id, kind, amount FROM balance_ledger "
                              "ORDER BY ALL").fetchall()
        events = conn.execute("SELECT event_id, type FROM stripe_events ORDER BY ALL").fetchall()
    return ledger, events, landed.webhook_files_rejected


def test_events_consumed_from_s3_give_the_ledger_of_a_local_landing(settings, on_s3):
    for where in (settings, on_s3):
        write_sample_balance(where.balance_landing_location(), where.stripe_events_location(),
                             USERS, seed=3, end=END)
    local, remote = _consume(settings), _consume(on_s3)
    assert not events_folder(on_s3).exists()
    assert remote == local
    ledger, events, rejected = remote
    assert rejected == []
    assert {kind for _, _, kind, _ in ledger} >= {"topup"}
    assert events and {source for source in _sources(on_s3)} == {"webhook"}


def _sources(settings: Settings) -> list[str]:
    with connect(settings.warehouse, read_only=True) as conn:
        return [row[0] for row in conn.execute("SELECT source FROM stripe_events").fetchall()]


@pytest.mark.parametrize("landing", ["local", "s3"])
def test_a_landed_file_that_is_not_an_event_is_rejected_in_one_line_naming_it(
        request, landing):
    settings = request.getfixturevalue("on_s3" if landing == "s3" else "settings")
    events = settings.stripe_events_location()
    good = event_body("evt_good")
    land_event(events, "evt_good", good)
    # Written straight to the landing (not through the receiver, which refuses both).
    events.write_bytes(events.path("evt_cut.json"), b'{"id": "evt_cut", "data": {')
    events.write_bytes(events.path("evt_named.json"), json.dumps(
        {"id": "evt_other", "object": "event", "data": {}}).encode())
    with connect(settings.warehouse) as conn:
        result = consume_landed(conn, events, None, now=NOW)
        consumed = conn.execute("SELECT event_id FROM stripe_events").fetchall()
    assert consumed == [("evt_good",)] and result.webhook_events_new == 1
    rejected = sorted(result.webhook_files_rejected)
    assert [line.split(":", 1)[0] for line in rejected] == ["evt_cut.json", "evt_named.json"]
    assert all("\n" not in line for line in rejected)
    assert rejected[1] == "evt_named.json: not a Stripe event for this file name"


def test_sensor_requests_a_run_for_events_landed_on_s3(on_s3, dagster_instance):
    sensor = funding_defs.landed_stripe_events_sensor
    assert not sensor(dg.build_sensor_context(instance=dagster_instance)).run_requests
    land_event(on_s3.stripe_events_location(), "evt_s1", event_body("evt_s1"))
    first = sensor(dg.build_sensor_context(instance=dagster_instance))
    assert len(first.run_requests) == 1
    again = sensor(dg.build_sensor_context(instance=dagster_instance, cursor=first.cursor))
    assert not again.run_requests
    land_event(on_s3.stripe_events_location(), "evt_s2", event_body("evt_s2"))
    later = sensor(dg.build_sensor_context(instance=dagster_instance, cursor=first.cursor))
    assert len(later.run_requests) == 1


def test_sample_data_with_an_s3_landing_writes_the_stripe_events_there(on_s3, s3):
    done = subprocess.run([CLI, "sample-data", "--days", "1", "--events-per-day", "10"],
                          capture_output=True, text=True, timeout=180, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stderr.split())  # the report goes to stderr
    uri = os.environ["CITY_USAGE_LANDING"] + "/stripe/events"
    count = re.search(rf"(\d+) Stripe webhook events under {re.escape(uri)}", said)
    assert count, said
    objects = landed_objects(on_s3, s3)
    assert len(objects) == int(count.group(1)) > 0
    for name, body in objects.items():
        assert re.fullmatch(r"evt_\w+\.json", name)
        assert json.loads(body)["id"] == name.removesuffix(".json")
    assert not events_folder(on_s3).exists()
