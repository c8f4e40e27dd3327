"""The Stripe webhook receiver: verify, land the raw body durably, answer fast.

`POST /stripe/webhook` checks `Stripe-Signature` against STRIPE_WEBHOOK_SECRET (300 s
tolerance) and writes the raw body exactly as received to `<landing>/stripe/events/<id>.json`
(temporary name, fsync, rename, fsync of the folder). A bad or missing signature gets 400 and
nothing is stored. The sync consumes the landed files (deduplicated by event id).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from usage_model import clock

TOLERANCE_S = 300
_EVENT_ID = re.compile(r"^evt_[A-Za-z0-9_]{1,250}$")


class BadWebhook(ValueError):
    """The delivery cannot be accepted (signature or body)."""


def verify(body: bytes, signature: str | None, secret: str) -> str:
    """Verify a delivery; return its event id. Raises BadWebhook with a one-line reason."""
    if not signature:
        raise BadWebhook("missing Stripe-Signature header")
    try:
        # No tolerance here: the SDK only refuses old timestamps, by the real clock.
        stripe.WebhookSignature.verify_header(body.decode("utf-8"), signature, secret, None)
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        raise BadWebhook("signature verification failed") from None
    skew = _signed_at(signature) - clock.now().timestamp()
    if abs(skew) > TOLERANCE_S:
        when = "in the future" if skew > 0 else "too old"
        raise BadWebhook(f"signature timestamp {when} (tolerance {TOLERANCE_S} s)")
    try:
        event = json.loads(body)
    except ValueError:
        raise BadWebhook("body is not JSON") from None
    event_id = event.get("id") if isinstance(event, dict) else None
    if not isinstance(event_id, str) or not _EVENT_ID.match(event_id):
        raise BadWebhook("body has no valid event id")
    return event_id


def _signed_at(signature: str) -> int:
    """The `t=` timestamp of a header the SDK has already verified."""
    for item in signature.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            return int(value)
    raise BadWebhook("signature has no timestamp")


def land_event(events_dir: Path, event_id: str, body: bytes) -> Path:
    """Write the raw body atomically and durably as `<event_id>.json` (idempotent)."""
    events_dir.mkdir(parents=True, exist_ok=True)
    target = events_dir / f"{event_id}.json"
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=events_dir)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(events_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return target


def webhook_app(events_dir: Path, secret: str) -> Starlette:
    """The ASGI app of the receiver (run it with uvicorn)."""

    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            event_id = verify(body, request.headers.get("stripe-signature"), secret)
        except BadWebhook as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        land_event(events_dir, event_id, body)
        return JSONResponse({"received": True, "id": event_id})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/stripe/webhook", receive, methods=["POST"]),
                             Route("/healthz", health, methods=["GET"])])


def landed_event_files(events_dir: Path) -> list[Path]:
    """Landed events, oldest file first (temporary and hidden names are ignored)."""
    if not events_dir.exists():
        return []
    files = [p for p in events_dir.glob("evt_*.json") if p.is_file()]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))
