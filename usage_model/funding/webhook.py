"""The Stripe webhook receiver: verify, land the raw body durably, answer fast.

`POST /stripe/webhook`:
- A body over `MAX_BODY_BYTES` (256 KiB; Stripe events are a few KiB) gets 413 before it is
  read: a larger `Content-Length` is refused at once, and a chunked body is counted as it
  arrives and refused at the first byte over. Memory per delivery is bounded by the cap.
- `Stripe-Signature` is checked against STRIPE_WEBHOOK_SECRET; its timestamp must be within
  `TOLERANCE_S` (300 s) of `usage_model.clock.now()`, in the past or in the future.
- A body that is not UTF-8, or is signed but is not JSON, nests too deeply or has no `evt_...`
  id gets 400 (one-line reason, no traceback); nothing is stored for any refused delivery.
- The raw body is written exactly as received to `<landing>/stripe/events/<id>.json`, a local
  folder or, when the landing is an `s3://` prefix, an object under it. Neither ever replaces
  a file, so the first body of an event id is the one kept: locally a temporary name, fsync,
  hard link to the final name, fsync of the folder; on S3 a conditional PUT
  (`If-None-Match: *`). A redelivery with the same bytes is answered 200 and changes nothing.
  One with different bytes is kept beside, as `conflicts/<id>.<sha256 prefix>.json`, logged,
  and answered 200 with `"conflict": true`: Stripe retries any non-2xx answer for days, and a
  retry cannot change what was landed.
- A landing that cannot be written (S3 unreachable, a full disk) is answered 503 and logged
  in one line; Stripe delivers the event again later.
The sync consumes the landed files (deduplicated by event id).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

import pyarrow.fs as pafs
import stripe
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from usage_model import clock
from usage_model.storage import Location, location

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


def land_event(events: Location | Path, event_id: str, body: bytes) -> str | None:
    """Land the raw body as `<event_id>.json` in `events` (a local folder or an S3 prefix),
    keeping the first body of an id (`Location.create_once`: a hard link or a conditional PUT).

    Returns None when it is landed (or was already, byte for byte); a different body for a
    landed id is kept as `conflicts/<event_id>.<sha256 prefix>.json`, the name returned.
    """
    where = location(events)
    target = where.path(f"{event_id}.json")
    if where.create_once(target, body) or where.read_bytes(target) == body:
        return None
    kept = f"{CONFLICTS_DIR}/{event_id}.{hashlib.sha256(body).hexdigest()[:16]}.json"
    where.create_once(where.path(kept), body)  # the same conflicting body again: already kept
    return kept


def webhook_app(events: Location | Path, secret: str) -> Starlette:
    """The ASGI app of the receiver (run it with uvicorn), landing in `events`."""
    where = location(events)

    async def receive(request: Request) -> JSONResponse:
        try:
            body = await read_capped(request)
            event_id = verify(body, request.headers.get("stripe-signature"), secret)
        except BadWebhook as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        try:  # in a worker thread: an S3 request must not stall other deliveries
            conflict = await run_in_threadpool(land_event, where, event_id, body)
        except OSError as exc:  # Stripe retries a 5xx answer: nothing is lost
            log.error("event %s not landed: %s", event_id, exc)
            return JSONResponse({"error": f"event {event_id} could not be landed; retry"},
                                status_code=503)
        if conflict is None:
            return JSONResponse({"received": True, "id": event_id})
        log.warning("event %s redelivered with different bytes; first kept, this one in %s",
                    event_id, conflict)
        return JSONResponse({"received": True, "id": event_id, "conflict": True})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/stripe/webhook", receive, methods=["POST"]),
                             Route("/healthz", health, methods=["GET"])])


def landed_event_files(events: Location | Path) -> list[pafs.FileInfo]:
    """Landed events, oldest first (local modification time, S3 LastModified), then by name;
    temporary, hidden and conflict files are not events."""
    where = location(events)
    listed = where.fs.get_file_info(pafs.FileSelector(where.root, allow_not_found=True))
    files = [info for info in listed if info.type == pafs.FileType.File
             and info.base_name.startswith("evt_") and info.base_name.endswith(".json")]
    return sorted(files, key=lambda info: (info.mtime_ns, info.base_name))


# For the sensor that starts a funding run when events land. A landed file can appear after
# files with a later time: its time is when its write began (S3 LastModified, to the second;
# locally before the fsync and the link). So its cursor keeps the names seen in the last
# SETTLE_NS of landing times, not only the newest file.
SETTLE_NS = 300 * 10**9


def new_landed(files: list[pafs.FileInfo], cursor: str | None
               ) -> tuple[list[pafs.FileInfo], str]:
    """The landed files not seen by the evaluation that left `cursor`, and the next cursor:
    `{"after": ns, "seen": [names]}`, every file older than `after` counting as seen."""
    try:
        state = json.loads(cursor) if cursor else {"after": 0, "seen": []}
    except ValueError:  # the older `<mtime_ns>|<name>` cursor: all up to that time was seen
        state = {"after": int(cursor.split("|", 1)[0]) + 1, "seen": []}
    seen = set(state["seen"])
    new = [f for f in files if f.mtime_ns >= state["after"] and f.base_name not in seen]
    after = max([state["after"], *(f.mtime_ns - SETTLE_NS for f in files)])
    recent = sorted(f.base_name for f in files if f.mtime_ns >= after)
    return new, json.dumps({"after": after, "seen": recent})
