"""A real local HTTP receiver for the webhook sink (starlette + uvicorn in a thread, port 0).

It verifies `City-Usage-Signature`, applies each Idempotency-Key once and counts repeats.
Faults for tests: `fail_next` answers 503 that many times; `hold` keeps the response open
after applying a batch until `release()` (so a test can kill the sender mid-request).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from usage_model.exports.sinks.webhook import SIGNATURE_HEADER, verify


class Receiver:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.applied: dict[str, dict] = {}
        self.duplicates: Counter[str] = Counter()
        self.bad_signatures = 0
        self.requests = 0
        self.fail_next = 0
        self.hold = False
        self.got_batch = threading.Event()
        self._released = threading.Event()
        app = Starlette(routes=[Route("/hook", self.handle, methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def handle(self, request: Request) -> JSONResponse:
        body = await request.body()
        self.requests += 1
        if not verify(self.secret, body, request.headers.get(SIGNATURE_HEADER, "")):
            self.bad_signatures += 1
            return JSONResponse({"error": "bad signature"}, status_code=401)
        key = request.headers["Idempotency-Key"]
        if self.fail_next > 0:
            self.fail_next -= 1
            return JSONResponse({"error": "try later"}, status_code=503)
        if key in self.applied:
            self.duplicates[key] += 1
            return JSONResponse({"status": "duplicate"})
        self.applied[key] = json.loads(body)
        self.got_batch.set()
        while self.hold and not self._released.is_set():
            await asyncio.sleep(0.01)
        return JSONResponse({"status": "applied"})

    def release(self) -> None:
        self._released.set()

    @property
    def url(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("receiver did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.server.should_exit = True
        self.thread.join(timeout=10)
