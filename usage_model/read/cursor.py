"""Opaque, stable cursors for paging events in (occurred_at, event_id) order.

A cursor is the position of the last row of a page: its instant (UTC microseconds) and
event_id, as url-safe base64 of a small JSON document. It does not depend on page size or on
what is added later, so paging resumes exactly after the last row seen.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime, timedelta

from usage_model.read.request import BadRequest

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_VERSION = 1


def encode_cursor(occurred_at: datetime, event_id: str) -> str:
    micros = (occurred_at - _EPOCH) // timedelta(microseconds=1)
    doc = json.dumps({"v": _VERSION, "t": micros, "e": event_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(doc.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        doc = json.loads(raw)
        if doc["v"] != _VERSION or not isinstance(doc["e"], str) or not isinstance(doc["t"], int):
            raise ValueError("shape")
        return _EPOCH + timedelta(microseconds=doc["t"]), doc["e"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError, OverflowError):
        raise BadRequest(f"bad cursor {cursor[:40]!r}: use the cursor printed by a previous "
                         "page") from None
