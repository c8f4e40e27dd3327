"""The Stripe webhook receiver: verify, land the raw body durably, answer fast.

`POST /stripe/webhook`:
- A body over `MAX_BODY_BYTES` (256 KiB; Stripe events are a few KiB) gets 413 before it is
  read: a larger `Content-Length` is refused at once, and a chunked body is counted as it
  arrives and refused at the first byte over. Memory per delivery is bounded by the cap.
- `Stripe-Signature` is checked against STRIPE_WEBHOOK_SECRET; its timestamp must be within
  `TOLERANCE_S` (300 s) of `usage_model.clock.now()`, in the past or in the future.
- A body that is not UTF-8, or is signed but is not JSON, nests too deeply or has no `evt_...`
  id gets 400 (one-line reason, no traceback); nothing is stored for any refused delivery.
- The raw body is written exactly as received to `<landing>/stripe/events/<id>.json`
  (temporary name, fsync, hard link to the final name, fsync of the folder). The link never
  replaces a file: the first body of an event id is the one kept. A redelivery with the same
  bytes is answered 200 and changes nothing. One with different bytes is kept beside, as
  `conflicts/<id>.<sha256 prefix>.json`, logged, and answered 200 with `"conflict": true`:
  Stripe retries any non-2xx answer for days, and a retry cannot change what was landed.
The sync consumes the landed files (deduplicated by event id).
"""

from __future__ import annotations

import hashlib
import json
import logging
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
MAX_BODY_BYTES = 256 * 1024
CONFLICTS_DIR = "conflicts"
_EVENT_ID = re.compile(r"^evt_[A-Za-z0-9_]{1,250}$")
log = logging.getLogger("city_usage.webhook")


class BadWebhook(ValueError):
    """The delivery cannot be accepted (signature or body); `status` is the HTTP answer."""

    status = 400


class BodyTooLarge(BadWebhook):
    status = 413


def verify(body: bytes, signature: str | None, secret: str) -> str:
    """Verify a delivery; return its event id. Raises BadWebhook with a one-line reason."""
    if not signature:
        raise BadWebhook("missing Stripe-Signature header")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadWebhook("body is not UTF-8") from None
    try:
        # No tolerance here: the SDK refuses only old timestamps, by the real clock.
        stripe.WebhookSignature.verify_header(text, signature, secret, None)
    except stripe.SignatureVerificationError:
        raise BadWebhook("signature verification failed") from None
    skew = _signed_at(signature) - clock.now().timestamp()
    if abs(skew) > TOLERANCE_S:
        when = "in the future" if skew > 0 else "too old"
        raise BadWebhook(f"signature timestamp {when} (tolerance {TOLERANCE_S} s)")
    try:
        event = json.loads(body)
    except ValueError:
        raise BadWebhook("body is not JSON") from None
    except RecursionError:
        raise BadWebhook("body JSON nests too deeply") from None
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


async def read_capped(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused (BodyTooLarge) as soon as it is known to exceed `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadWebhook("bad Content-Length header")
        if int(declared) > limit:
            raise BodyTooLarge(f"body of {int(declared)} bytes is over the {limit} byte limit")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(f"body is over the {limit} byte limit")
    return bytes(body)


def _fsync_dir(folder: Path) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _publish(folder: Path, name: str, body: bytes) -> bool:
    """Durably create `folder/name` holding `body` unless it exists; True when created."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, folder / name)  # atomic, and never replaces an existing file
        except FileExistsError:
            return False
    finally:
        Path(tmp).unlink(missing_ok=True)
    _fsync_dir(folder)
    return True


def land_event(events_dir: Path, event_id: str, body: bytes) -> Path | None:
    """Land the raw body as `<event_id>.json`, keeping the first body of an id.

    Returns None when it is landed (or was already, byte for byte); a different body for a
    landed id is kept as `conflicts/<event_id>.<sha256 prefix>.json`, whose path is returned.
    """
    target = events_dir / f"{event_id}.json"
    if _publish(events_dir, target.name, body) or target.read_bytes() == body:
        return None
    conflicts = events_dir / CONFLICTS_DIR
    kept = conflicts / f"{event_id}.{hashlib.sha256(body).hexdigest()[:16]}.json"
    _publish(conflicts, kept.name, body)  # the same conflicting body again: already kept
    return kept


def webhook_app(events_dir: Path, secret: str) -> Starlette:
    """The ASGI app of the receiver (run it with uvicorn)."""

    async def receive(request: Request) -> JSONResponse:
        try:
            body = await read_capped(request)
            event_id = verify(body, request.headers.get("stripe-signature"), secret)
        except BadWebhook as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        conflict = land_event(events_dir, event_id, body)
        if conflict is None:
            return JSONResponse({"received": True, "id": event_id})
        log.warning("event %s redelivered with different bytes; first kept, this one in %s",
                    event_id, conflict.relative_to(events_dir))
        return JSONResponse({"received": True, "id": event_id, "conflict": True})

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
