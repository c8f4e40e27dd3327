"""`city-usage stripe-webhook` and `city-usage balances` as real processes.

The receiver runs as its own process on a free port; deliveries are signed here with HMAC-SHA256
exactly as Stripe documents (`Stripe-Signature: t=<unix>,v1=<hex hmac of "<t>.<body>">`), not
with our code or the SDK's helper. Exit codes and one-line errors follow
docs/event-model.md rule 13.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.balance_landing import events_folder
from usage_model import clock
from usage_model.config import Settings
from usage_model.funding.ledger import LedgerEntry, append_entries
from usage_model.warehouse import connect, ensure_schema

CLI = str(Path(sys.executable).parent / "city-usage")
SECRET = "whsec_cli_test_secret"


def stripe_signature(body: bytes, secret: str, at: int | None = None) -> str:
    """Stripe's scheme: HMAC-SHA256 keyed by the endpoint secret over `<timestamp>.<payload>`."""
    at = int(clock.now().timestamp()) if at is None else at
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60,
                          env=env if env is not None else dict(os.environ))


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, *words: str) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


@pytest.fixture
def webhook_process(settings: Settings) -> Iterator[tuple[str, subprocess.Popen]]:
    env = {**os.environ, "STRIPE_WEBHOOK_SECRET": SECRET}
    for _attempt in range(3):  # another process may take the port between bind and listen
        port = free_port()
        proc = subprocess.Popen([CLI, "stripe-webhook", "--port", str(port)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        if proc.poll() is None:
            break
    else:
        pytest.fail(f"the receiver did not start: {proc.stderr.read().decode()}")
    try:
        yield base, proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def checkout_completed_event(event_id: str, topup_id: str) -> bytes:
    event = {
        "id": event_id, "object": "event", "api_version": "2025-03-31.basil",
        "created": int(clock.now().timestamp()), "livemode": False, "pending_webhooks": 1,
        "type": "checkout.session.completed",
        "data": {"object": {
            "id": "cs_test_cli1", "object": "checkout.session", "status": "complete",
            "payment_status": "paid", "amount_total": 500, "currency": "usd",
            "client_reference_id": topup_id, "payment_intent": "pi_test_cli1",
            "metadata": {"topup_id": topup_id, "user_id": "u-cli", "payment_id": "pay-cli"}}},
    }
    # Stripe's own bodies are pretty-printed; the receiver must keep every byte.
    return json.dumps(event, indent=2).encode() + b"\n"


def test_receiver_process_lands_signed_events_and_refuses_bad_signatures(
        settings: Settings, webhook_process):
    base, proc = webhook_process
    body = checkout_completed_event("evt_cli_ok", "t-cli")
    ok = httpx.post(f"{base}/stripe/webhook", content=body,
                    headers={"Stripe-Signature": stripe_signature(body, SECRET),
                             "Content-Type": "application/json"})
    assert ok.status_code == 200
    assert ok.json() == {"received": True, "id": "evt_cli_ok"}
    landed = events_folder(settings) / "evt_cli_ok.json"
    assert landed.read_bytes() == body

    other = checkout_completed_event("evt_cli_bad", "t-cli")
    refused = {
        "wrong secret": {"Stripe-Signature": stripe_signature(other, "whsec_someone_else")},
        "too old": {"Stripe-Signature": stripe_signature(other, SECRET,
                                                         at=int(clock.now().timestamp()) - 600)},
        "body changed after signing": {"Stripe-Signature": stripe_signature(body, SECRET)},
        "no header": {},
    }
    for case, headers in refused.items():
        answer = httpx.post(f"{base}/stripe/webhook", content=other, headers=headers)
        assert answer.status_code == 400, case
    assert sorted(p.name for p in events_folder(settings).iterdir()) == [landed.name]

    # a redelivery of the same event is accepted and leaves the same bytes
    again = httpx.post(f"{base}/stripe/webhook", content=body,
                       headers={"Stripe-Signature": stripe_signature(body, SECRET)})
    assert again.status_code == 200 and landed.read_bytes() == body

    os.kill(proc.pid, signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the parent sees why it ended
    assert proc.wait(10) in (0, -signal.SIGTERM)
    stderr = proc.stderr.read()
    assert b"Finished server process" in stderr and b"Traceback" not in stderr
    assert SECRET.encode() not in proc.stdout.read()


def _post_headers_only(base: str, declared: int) -> bytes:
    """Announce a body of `declared` bytes, send none of it, return the raw answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"POST /stripe/webhook HTTP/1.1\r\nHost: {host}\r\nContent-Length: "
                     f"{declared}\r\nContent-Type: application/json\r\n\r\n".encode())
        return sock.recv(4096)


def test_huge_unsigned_bodies_are_refused_without_growing_the_process(webhook_process,
                                                                      settings):
    base, proc = webhook_process
    server = psutil.Process(proc.pid)
    # the declared length alone is enough to refuse: nothing of the body is waited for
    assert _post_headers_only(base, 300 * 2**20).startswith(b"HTTP/1.1 413 ")
    before = server.memory_info().rss

    def huge():  # 300 MiB, chunked: the receiver must stop reading at the cap
        chunk = b"x" * 2**20
        for _ in range(300):
            yield chunk

    try:
        status = httpx.post(f"{base}/stripe/webhook", content=huge(), timeout=60).status_code
    except httpx.TransportError:  # the receiver answered 413 and closed while we still sent
        status = 413
    assert status == 413
    grown = server.memory_info().rss - before
    assert grown < 8 * 2**20, f"receiver grew by {grown / 2**20:.1f} MiB"
    assert httpx.get(f"{base}/healthz").status_code == 200
    assert not events_folder(settings).exists() or \
        list(events_folder(settings).rglob("*.json")) == []


def test_receiver_without_secret_exits_2_with_one_line(settings: Settings):
    # a missing secret is configuration, i.e. input: exit 2 like a bad option
    env = {k: v for k, v in os.environ.items() if k != "STRIPE_WEBHOOK_SECRET"}
    result = run_cli("stripe-webhook", "--port", str(free_port()), env=env)
    assert_one_line_error(result, 2, "STRIPE_WEBHOOK_SECRET")


def test_receiver_on_a_taken_port_exits_1_with_one_line(settings: Settings):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("stripe-webhook", "--port", str(port),
                         env={**os.environ, "STRIPE_WEBHOOK_SECRET": SECRET})
    assert_one_line_error(result, 1, f"127.0.0.1:{port}", "in use")


def test_balances_on_a_missing_warehouse_exits_1_with_one_line(settings: Settings):
    assert not settings.warehouse.exists()
    assert_one_line_error(run_cli("balances"), 1)
    assert_one_line_error(run_cli("balances", "--format", "json"), 1)


def test_balances_bad_format_exits_2(settings: Settings):
    assert_one_line_error(run_cli("balances", "--format", "xml"), 2, "--format")


def test_balances_json_equals_the_ledger_sums(settings: Settings):
    movements = [("u-a", "topup", 5_000_000, "topup:t1"), ("u-b", "topup", 2_000_000, "topup:t2"),
                 ("u-a", "refund", -1_500_000, "refund:re_1"),
                 ("u-a", "topup", 10_000, "topup:t3"),
                 ("u-c", "topup", 1_000_000, "topup:t4"),
                 ("u-c", "charge", -1_250_000, "charge:u-c:2026-11-23")]
    with connect(settings.warehouse) as conn:
        ensure_schema(conn)
        append_entries(conn, [LedgerEntry(u, k, a, ref) for u, k, a, ref in movements])
    expected: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for user, _kind, amount, _ref in movements:
        expected[user][0] += amount
        expected[user][1] += 1

    result = run_cli("balances", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["user_id"], r["unit"], r["balance"], r["entries"]) for r in rows] == [
        (u, "credits", b, n) for u, (b, n) in sorted(expected.items())]
    assert rows[0]["balance"] == 3_510_000 and rows[2]["balance"] == -250_000  # by hand

    one = json.loads(run_cli("balances", "--user", "u-b", "--format", "json").stdout)
    assert [(r["user_id"], r["balance"]) for r in one] == [("u-b", 2_000_000)]
    table = run_cli("balances")
    assert table.returncode == 0 and "u-a" in table.stdout and "3510000" in table.stdout
