"""The one retry helper: attempts, backoff and deadlines, with the sleep and clock injected."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from usage_model.retry import Policy, retrying
from usage_model.warehouse import WarehouseLocked, connect_waiting

POLICY = Policy("test", attempts=5, first_delay_s=0.5, max_delay_s=3.0)


class Flaky(Exception):
    pass


class FakeTime:
    """A clock that only moves when slept on; records every wait."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def failing(times: int, error: type[Exception] = Flaky):
    calls = {"n": 0}

    def fn() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error(f"failure {calls['n']}")
        return "ok"

    return fn, calls


def test_retries_until_success_with_jittered_exponential_waits() -> None:
    fake = FakeTime()
    fn, calls = failing(4)
    assert retrying(POLICY, retry_if=lambda e: isinstance(e, Flaky), sleep=fake.sleep)(fn) == "ok"
    assert calls["n"] == 5
    # 0.5, 1, 2, then capped at 3; each wait drawn from [half, all] of that
    for wait, full in zip(fake.waits, [0.5, 1.0, 2.0, 3.0], strict=True):
        assert full / 2 <= wait <= full


def test_gives_up_after_the_policy_attempts_with_the_last_error() -> None:
    fake = FakeTime()
    fn, calls = failing(10)
    r = retrying(POLICY, retry_if=lambda e: isinstance(e, Flaky), sleep=fake.sleep)
    with pytest.raises(Flaky, match="failure 5"):
        r(fn)
    assert calls["n"] == 5 and len(fake.waits) == 4
    assert r.statistics["attempt_number"] == 5


def test_an_error_not_retried_is_raised_at_once() -> None:
    fake = FakeTime()
    fn, calls = failing(1, ValueError)
    with pytest.raises(ValueError):
        retrying(POLICY, retry_if=lambda e: isinstance(e, Flaky), sleep=fake.sleep)(fn)
    assert calls["n"] == 1 and fake.waits == []


def test_a_per_error_limit_lowers_the_attempts() -> None:
    fake = FakeTime()
    fn, calls = failing(10)
    retried: list[int] = []
    r = retrying(POLICY, retry_if=lambda e: isinstance(e, Flaky), attempts_for=lambda e: 2,
                 sleep=fake.sleep, on_retry=retried.append)
    with pytest.raises(Flaky):
        r(fn)
    assert calls["n"] == 2 and retried == [1]


def test_the_warehouse_lock_wait_stops_before_passing_its_deadline(tmp_path: Path) -> None:
    db = tmp_path / "held.duckdb"
    ready = tmp_path / "ready"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, pathlib, sys, time\n"
        f"conn = duckdb.connect({str(db)!r})\n"
        f"pathlib.Path({str(ready)!r}).write_text('held')\n"
        "sys.stdin.read()\n"  # hold the lock until the test closes stdin
    )], stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():  # the holder writes this file once it holds the lock
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        fake = FakeTime()
        with pytest.raises(WarehouseLocked) as info:
            connect_waiting(db, 1.0, sleep=fake.sleep, monotonic=fake.monotonic)
        # waits double from 50 ms without jitter; the next (0.8 s) would end past 1 s
        assert fake.waits == [0.05, 0.1, 0.2, 0.4]
        assert str(info.value) == f"{db}: still locked by another process after 1 s"
    finally:
        holder.communicate(b"", timeout=30)
    conn = connect_waiting(db, 1.0)  # released: connects at once
    conn.close()


def test_the_warehouse_wait_fails_at_once_on_a_file_that_is_not_a_database(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "not.duckdb"
    bad.write_text("plain text, not a database\n" * 100)
    fake = FakeTime()
    with pytest.raises(duckdb.Error):
        connect_waiting(bad, 5.0, sleep=fake.sleep, monotonic=fake.monotonic)
    assert fake.waits == []
