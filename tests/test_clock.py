"""The injectable clock: CITY_USAGE_NOW freezes it here and in the processes started here."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from usage_model import clock


def test_unset_clock_is_the_real_time():
    before = datetime.now(UTC)
    now = clock.now()
    assert now.tzinfo is not None and before <= now <= datetime.now(UTC)


def test_env_var_freezes_now_in_utc_whatever_the_offset(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(clock.ENV_VAR, "2031-02-03T04:05:06+02:00")
    assert clock.now() == datetime(2031, 2, 3, 2, 5, 6, tzinfo=UTC)
    assert clock.now().utcoffset() == timedelta(0)
    assert clock.today().isoformat() == "2031-02-03"


def test_pinned_block_reaches_subprocesses_and_is_undone():
    moment = datetime(2040, 1, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    with clock.pinned(moment):
        child = subprocess.run(
            [sys.executable, "-c", "from usage_model import clock; print(clock.now().isoformat())"],
            capture_output=True, text=True, check=True)
        assert child.stdout.strip() == "2040-01-02T04:30:00+00:00"
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(minutes=1)


@pytest.mark.parametrize(("value", "problem"), [
    ("yesterday", "not an ISO-8601 instant"),
    ("2031-02-03T04:05:06", "has no UTC offset"),
])
def test_bad_env_var_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch, value, problem):
    monkeypatch.setenv(clock.ENV_VAR, value)
    with pytest.raises(clock.BadClock) as info:
        clock.now()
    assert str(info.value).startswith(f"CITY_USAGE_NOW={value!r}") and problem in str(info.value)
    assert "\n" not in str(info.value)


def test_sample_data_ends_the_day_before_the_pinned_clock(settings):
    cli = str(Path(sys.executable).parent / "city-usage")
    env = {**os.environ, clock.ENV_VAR: "2031-02-03T04:05:06Z"}
    done = subprocess.run([cli, "sample-data", "--days", "2", "--events-per-day", "20"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    usage = sorted(p.name for p in settings.usage_landing.glob("dt=*"))
    topups = sorted(p.name for p in (settings.balance_landing / "topups").iterdir())
    assert (usage, topups) == (["dt=2031-02-01", "dt=2031-02-02"], ["dt=2031-02-02"])
