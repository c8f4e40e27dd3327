"""Webhook receiver over real HTTP, fault handling, crash resume, fake shapes."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import stripe
import uvicorn

from tests.balance_landing import events_folder
from usage_model import clock
from usage_model.config import Settings
from usage_model.funding.stripe_api import Retrying, StripeUnavailable
from usage_model.funding.sync import StripeSource
from usage_model.funding.webhook import landed_event_files, webhook_app
from usage_model.stripe_client import StripeAuthFailed, make_client

SECRET = "whsec_test_secret"
TOLERANCE_S = 300  # the documented signature window: 5 minutes either side
MAX_BODY_BYTES = 256 * 1024  # the documented body cap: 256 KiB
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "stripe-fixtures" / "fixtures3.json"


def sign(body: str, secret: str = SECRET, at: int | None = None) -> str:
    at = int(clock.now().timestamp()) if at is None else at
    sig = stripe.WebhookSignature._compute_signature(f"{at}.{body}", secret)
    return f"t={at},v1={sig}"


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The receiver app on a free port of 127.0.0.1, landing where `settings` say; yields its
    webhook address."""
    server = uvicorn.Server(uvicorn.Config(webhook_app(settings.stripe_events_location(), SECRET),
                                           host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/stripe/webhook"
    finally:
        server.should_exit = True
        thread.join(5)


@pytest.fixture
def receiver(settings):
    with serving(settings) as address:
        yield address


def test_signed_delivery_lands_raw_body_and_bad_ones_get_400(receiver, settings, funding):
    s = funding.fake.create_checkout_session(200, topup_id="w1", user_id="uw")
    funding.fake.complete_checkout(s["id"])
    event = [e for e in funding.fake.events if e["type"] == "checkout.session.completed"][0]
    body = json.dumps(event, indent=1)  # odd formatting must be kept byte for byte
    ok = httpx.post(receiver, content=body, headers={"Stripe-Signature": sign(body)})
    assert ok.status_code == 200
    landed = events_folder(settings) / f"{event['id']}.json"
    assert landed.read_text() == body
    bad = [
        {},
        {"Stripe-Signature": sign(body, "whsec_other")},
        {"Stripe-Signature": sign(body, at=int(clock.now().timestamp()) - 301)},
    ]
    other = json.dumps({**event, "id": "evt_other"})
    for headers in bad:
        assert httpx.post(receiver, content=other, headers=headers).status_code == 400
    assert sorted(p.name for p in events_folder(settings).iterdir()) == [landed.name]
    # landed events are consumed (deduplicated) and credit the topup
    out = funding.run(pull=False, landed=True)
    assert out["landed"].webhook_events_new == 1
    assert funding.ledger() == [("topup:w1", "uw", "topup", 2_000_000)]
    httpx.post(receiver, content=body, headers={"Stripe-Signature": sign(body)})
    assert funding.run(pull=False, landed=True)["landed"].webhook_events_new == 0


def test_rate_limits_and_5xx_are_retried(funding):
    s = funding.fake.create_checkout_session(100, topup_id="r1", user_id="ur")
    funding.fake.complete_checkout(s["id"])
    funding.fake.fail_next(2, 429)
    funding.fake.fail_next(2, 503)
    out = funding.run()
    assert out["pull"].retries == 4
    assert funding.ledger() == [("topup:r1", "ur", "topup", 1_000_000)]


def closed_port_base() -> str:
    """A local address where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def sync_failure(funding, key: str, base: str) -> tuple[Exception, StripeSource | None]:
    """Run the funding sync against `base` with `key`; the one-line error and the source."""
    made: list[StripeSource] = []

    def source() -> StripeSource:
        made.append(StripeSource(make_client(key, base),
                                 Retrying(base_delay=0.001, sleep=lambda s: None)))
        return made[0]

    funding.source = source
    with pytest.raises((StripeAuthFailed, StripeUnavailable)) as info:
        funding.run()
    message = str(info.value)
    assert "\n" not in message and key.strip() not in message and "_test_" not in message
    assert base.rstrip("/") in message
    return info.value, (made[0] if made else None)


@pytest.mark.parametrize(("base", "problem"), [
    (None, "connection refused"),
    ("http://nonexistent.invalid", "host name does not resolve"),
])
def test_unreachable_stripe_is_named_and_retried_only_briefly(funding, base, problem):
    base = base or closed_port_base()
    error, source = sync_failure(funding, funding.fake.api_key, base)
    assert isinstance(error, StripeUnavailable)
    assert str(error) == f"cannot connect to Stripe at {base} ({problem}; tried 2 times)"
    assert source.call.retries == 1


def test_authentication_error_is_one_line_naming_the_base_without_the_key(funding):
    error, _ = sync_failure(funding, "sk_test_rotated_key", funding.fake.base_url)
    assert isinstance(error, StripeAuthFailed)
    assert str(error) == (f"Stripe at {funding.fake.base_url} rejected STRIPE_SECRET_KEY "
                          "(authentication error); check the key")
    assert len(funding.fake.requests) == 1  # a rejected key is not retried


@pytest.mark.parametrize(("key", "problem"), [
    (" sk_test_fake_key", "contains whitespace"),
    ("sk_test_fake_key\n", "contains whitespace"),
    ("sk_test_fake key", "contains whitespace"),
    ("pk_test_publishable", "does not start with sk_ or rk_"),
    ("whsec_webhook_secret", "does not start with sk_ or rk_"),
    ("sk_test_fake-key;", "has characters a Stripe key never has"),
])
def test_malformed_key_is_refused_before_any_call(funding, key, problem):
    error, source = sync_failure(funding, key, funding.fake.base_url)
    assert isinstance(error, StripeAuthFailed) and source is None
    assert str(error).startswith(f"STRIPE_SECRET_KEY {problem}")
    assert str(error).endswith(f"; Stripe at {funding.fake.base_url} was not called")
    assert funding.fake.requests == []


def test_crash_mid_sync_resumes_from_committed_cursor_without_double_credit(funding):
    funding.config = replace(funding.config, page_size=2)
    funding.run()  # first sync: lists (nothing yet) and sets the cursor
    topups = [f"c{i}" for i in range(6)]
    for t in topups:
        s = funding.fake.create_checkout_session(100, topup_id=t, user_id="uc")
        funding.fake.complete_checkout(s["id"])
    # let a few pages commit, then Stripe fails for longer than the retries last
    original = funding.source

    def flaky_source():
        src = original()
        src.call.attempts = 2
        return src

    funding.source = flaky_source
    calls = {"n": 0}
    real_retrieve = type(original()).retrieve

    def retrieve(self, kind, object_id):
        calls["n"] += 1
        if calls["n"] == 7:
            funding.fake.fail_next(5, 500)
        return real_retrieve(self, kind, object_id)

    type(original()).retrieve = retrieve
    try:
        with pytest.raises(StripeUnavailable):
            funding.run()
    finally:
        type(original()).retrieve = real_retrieve
    committed = funding.query("SELECT count(*) FROM stripe_events")[0][0]
    assert 0 < committed < len(funding.fake.events)
    funding.fake._failures.clear()
    funding.run()
    assert funding.ledger() == sorted((f"topup:{t}", "uc", "topup", 1_000_000) for t in topups)
    assert funding.balance("uc") == 6_000_000


def test_stale_cursor_falls_back_to_lists(funding):
    funding.run()
    with funding.conn() as conn:
        conn.execute("UPDATE stripe_sync_state SET value = '1000'")
    s = funding.fake.create_checkout_session(100, topup_id="s1", user_id="us")
    funding.fake.complete_checkout(s["id"])
    assert funding.run()["pull"].mode == "list"
    assert funding.ledger() == [("topup:s1", "us", "topup", 1_000_000)]


@pytest.mark.skipif(not FIXTURES.exists(), reason=f"{FIXTURES} absent (a user's clone)")
def test_fake_objects_have_stripe_shape(funding):
    resources = json.loads(FIXTURES.read_text())["resources"]
    fake = funding.fake
    s = fake.create_checkout_session(100, topup_id="x", user_id="y")
    fake.complete_checkout(s["id"])
    ch = fake.charge_of(s["id"])
    objs = [fake.get("checkout.session", s["id"]), fake.get("payment_intent", s["payment_intent"]),
            ch, fake.refund(ch["id"], 10), fake.open_dispute(ch["id"]),
            fake.create_customer(email="a@b.c"), fake.events[0]]
    for obj in objs:
        ref = resources[obj["object"]]
        assert set(obj) <= set(ref), f"{obj['object']}: keys {set(obj) - set(ref)} not Stripe's"
        assert obj["id"].split("_")[0] == ref["id"].split("_")[0]
        for key, value in obj.items():
            if value is not None and ref[key] is not None and key != "data":
                assert type(value) is type(ref[key]), f"{obj['object']}.{key}"


def signed(body: bytes, at: int | None = None) -> dict[str, str]:
    """Stripe's scheme over the raw bytes (whatever they are): HMAC-SHA256 of `<t>.<body>`."""
    at = int(clock.now().timestamp()) if at is None else at
    mac = hmac.new(SECRET.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={at},v1={mac}"}


def event_body(event_id: str, padding: int = 0) -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": "charge.refunded",
                       "created": int(clock.now().timestamp()), "livemode": False,
                       "data": {"object": {"id": "ch_x", "object": "charge",
                                           "metadata": {"pad": "x" * padding}}}}).encode()


def landed_names(settings) -> list[str]:
    folder = events_folder(settings)
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.json")) \
        if folder.exists() else []


def test_signature_timestamps_are_accepted_within_the_tolerance_on_both_sides(receiver,
                                                                               settings):
    now = int(clock.now().timestamp())
    for name, at, status in (("past_edge", now - TOLERANCE_S, 200),
                             ("future_edge", now + TOLERANCE_S, 200),
                             ("future_hour", now + 3600, 400),
                             ("future_just_over", now + TOLERANCE_S + 1, 400),
                             ("past_just_over", now - TOLERANCE_S - 1, 400)):
        body = event_body(f"evt_{name}")
        answer = httpx.post(receiver, content=body, headers=signed(body, at=at))
        assert answer.status_code == status, name
        if status == 400:
            assert "signature timestamp" in answer.json()["error"]
    assert landed_names(settings) == ["evt_future_edge.json", "evt_past_edge.json"]


def test_signed_bodies_that_are_not_json_events_get_400_without_a_traceback(receiver, settings,
                                                                            caplog):
    deep = b'{"id": "evt_deep", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    cases = {
        "nests too deeply": deep,
        "not JSON": b'{"id": "evt_cut", "data": {',
        "no valid event id": b'{"id": "../../etc/passwd", "data": {}}',
        "not UTF-8": b'{"id": "evt_latin1", "note": "caf\xe9"}',
    }
    for reason, body in cases.items():
        assert len(body) <= MAX_BODY_BYTES
        answer = httpx.post(receiver, content=body, headers=signed(body))
        assert answer.status_code == 400 and reason in answer.json()["error"], reason
    assert landed_names(settings) == []
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text


def test_first_body_of_an_event_id_is_kept_and_a_different_one_recorded(receiver, settings):
    first, second = event_body("evt_same"), event_body("evt_same", padding=3)
    answers = [httpx.post(receiver, content=b, headers=signed(b)).json()
               for b in (first, second, second, first)]
    assert answers == [{"received": True, "id": "evt_same"},
                       {"received": True, "id": "evt_same", "conflict": True},
                       {"received": True, "id": "evt_same", "conflict": True},
                       {"received": True, "id": "evt_same"}]
    kept = events_folder(settings) / "evt_same.json"
    assert kept.read_bytes() == first
    conflicts = sorted((events_folder(settings) / "conflicts").iterdir())
    assert [p.read_bytes() for p in conflicts] == [second]
    assert conflicts[0].name.startswith("evt_same.") and not conflicts[0].name.startswith(".")
    # only the first body is an event for the sync; the conflict is kept for people
    assert [f.path for f in landed_event_files(events_folder(settings))] == [str(kept)]


def test_body_size_cap_counts_the_signed_bytes_exactly(receiver, settings):
    base = len(event_body("evt_cap"))
    at_cap = event_body("evt_cap", padding=MAX_BODY_BYTES - base)
    over = event_body("evt_cap", padding=MAX_BODY_BYTES - base + 1)
    assert (len(at_cap), len(over)) == (MAX_BODY_BYTES, MAX_BODY_BYTES + 1)
    assert httpx.post(receiver, content=at_cap, headers=signed(at_cap)).status_code == 200

    def chunked(body: bytes):  # no Content-Length: the cap must be counted while reading
        yield from (body[i:i + 1000] for i in range(0, len(body), 1000))

    for content in (over, chunked(over)):
        answer = httpx.post(receiver, content=content, headers=signed(over))
        assert answer.status_code == 413 and "byte limit" in answer.json()["error"]
    assert landed_names(settings) == ["evt_cap.json"]
