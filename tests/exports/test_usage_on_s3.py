"""Hooks read the period's curated events from S3 (`CITY_USAGE_CURATED=s3://…`, a real S3
server on 127.0.0.1) exactly as from local day files: same groups, same exact sums."""

from __future__ import annotations

import pytest

from tests.exports.helpers import event, write_events
from tests.s3_server import S3Server, s3_fixture  # noqa: F401 - provides `s3`
from usage_model.config import Settings
from usage_model.hooks.protocol import Period
from usage_model.hooks.usage import usage_at_grain

MARCH = Period.from_key("month", "2026-03-01")
EVENTS = [
    event("2026-03-01", "u1", inp=10, out=3), event("2026-03-01", "u1", model="m2", inp=5),
    event("2026-03-17", "u2", city="c2", inp=7, out=1, cached=2),
    event("2026-03-31", "u1", status="error", inp=1),
    event("2026-03-31", None, inp=4),
    event("2026-04-01", "u1", inp=1000),  # next month: not in March
    event("2026-02-28", "u2", inp=1000),  # previous month
]
GRAIN = ("city_id", "user_id", "model_id")


def test_a_hook_reads_the_same_usage_from_s3_as_from_local_files(
    settings: Settings, s3: S3Server, monkeypatch: pytest.MonkeyPatch
):
    write_events(settings, EVENTS)
    local = usage_at_grain(settings.events_location(), MARCH, GRAIN)

    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CITY_USAGE_CURATED", s3.new_bucket() + "/curated")
    on_s3 = Settings.from_env()
    assert not on_s3.events_location().is_local
    write_events(on_s3, EVENTS)
    remote = usage_at_grain(on_s3.events_location(), MARCH, GRAIN)

    assert remote.equals(local)
    by_group = {(r["city_id"], r["user_id"], r["model_id"]): r for r in remote.to_pylist()}
    assert by_group[("c1", "u1", "gpt-4o")]["calls"] == 2  # the success and the error call
    assert by_group[("c1", "u1", "gpt-4o")]["input_tokens"] == 11
    assert by_group[("c2", "u2", "gpt-4o")]["cached_input_tokens"] == 2
    assert sum(r["calls"] for r in remote.to_pylist()) == 5  # April and February left out
    assert usage_at_grain(on_s3.events_location(), Period.from_key("month", "2026-05-01"),
                          GRAIN).num_rows == 0
