"""A Stripe-compatible HTTP server for tests: real HTTP on 127.0.0.1, objects in memory.

The official `stripe` SDK talks to it unchanged (`base_addresses={"api": fake.base_url}`).
Scenario methods (`complete_checkout`, `refund`, `open_dispute`, ...) change objects the way
Stripe does and record the events Stripe would send. See README.md for the API.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.stripe_fake import shapes
from usage_model import clock

API_VERSION = "2026-10-28.endive"

# Object type -> (URL collection path, id prefix)
COLLECTIONS = {
    "checkout.session": "checkout/sessions",
    "payment_intent": "payment_intents",
    "charge": "charges",
    "refund": "refunds",
    "dispute": "disputes",
    "customer": "customers",
    "event": "events",
}
METER_EVENT_MAX_AGE_S = 35 * 86400
METER_EVENT_MAX_FUTURE_S = 300


def stripe_error(status: int, type_: str, message: str, *, code: str | None = None,
                 param: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": {"message": message, "type": type_}}
    if code:
        body["error"]["code"] = code
        body["error"]["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param:
        body["error"]["param"] = param
    return JSONResponse(body, status_code=status,
                        headers={"Request-Id": shapes.new_id("req", length=14)})


def _nest(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Form keys like `payload[value]` or `types[0]` into nested dicts (lists stay dicts)."""
    out: dict[str, Any] = {}
    for key, value in items:
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1] or str(len(node))] = value
    return out


async def _form_items(request: Request) -> list[tuple[str, str]]:
    """The form-encoded body the SDK sends (no python-multipart needed)."""
    return parse_qsl((await request.body()).decode(), keep_blank_values=True)


class FakeStripe:
    """In-memory Stripe with an HTTP front. Use as a context manager or start()/stop()."""

    def __init__(self, api_key: str = "sk_test_fake_key", *, livemode: bool = False) -> None:
        self.api_key = api_key
        self.livemode = livemode
        self.clock: int | None = None  # fixed unix time for new objects; None = real time
        self._lock = threading.RLock()
        self._objects: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in COLLECTIONS}
        self._order: dict[str, int] = {}
        self._meter_events: dict[str, dict[str, Any]] = {}
        self.meter_event_requests: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, str]] = []
        self.stripe_versions: list[str | None] = []  # each request's Stripe-Version header
        self._failures: list[int] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeStripe:
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=0, log_level="warning",
                                access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-stripe", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake Stripe server did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ fault injection
    def fail_next(self, count: int, status: int = 429) -> None:
        """The next `count` API requests answer `status` (429 rate limit or 5xx)."""
        with self._lock:
            self._failures.extend([status] * count)

    # ------------------------------------------------------------------ store helpers
    def now(self) -> int:
        return self.clock if self.clock is not None else int(clock.now().timestamp())

    def _put(self, obj: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            kind = obj["object"]
            if obj["id"] not in self._objects[kind]:
                self._order[obj["id"]] = len(self._order)
            self._objects[kind][obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str) -> dict[str, Any]:
        return self._objects[kind][object_id]

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """Objects of a type, newest first (Stripe's list order)."""
        with self._lock:
            items = list(self._objects[kind].values())
        return sorted(items, key=lambda o: (o["created"], self._order[o["id"]]), reverse=True)

    def emit(self, type_: str, obj: dict[str, Any], *, created: int | None = None) -> dict:
        """Record an event carrying a snapshot of `obj` (as Stripe does)."""
        livemode = obj.get("livemode")
        ev = shapes.event(created=self.now() if created is None else created, type_=type_,
                          obj=copy.deepcopy(obj),
                          livemode=self.livemode if livemode is None else livemode,
                          api_version=API_VERSION)
        return self._put(ev)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event, oldest first."""
        return list(reversed(self.objects("event")))

    @property
    def meter_events(self) -> list[dict[str, Any]]:
        """Accepted (deduplicated) meter events, in arrival order."""
        with self._lock:
            return list(self._meter_events.values())

    # ------------------------------------------------------------------ scenarios
    def create_customer(self, *, email: str | None = None, name: str | None = None,
                        metadata: dict[str, str] | None = None) -> dict[str, Any]:
        return self._put(shapes.customer(created=self.now(), email=email, name=name,
                                         metadata=metadata or {}, livemode=self.livemode))

    def create_checkout_session(
        self, amount_total: int, currency: str = "usd", *, topup_id: str | None = None,
        user_id: str | None = None, payment_id: str | None = None,
        metadata: dict[str, str] | None = None, client_reference_id: str | None = "",
        livemode: bool | None = None,
    ) -> dict[str, Any]:
        """A Downcity-style topup checkout: metadata topup_id/user_id/payment_id and
        client_reference_id = topup_id (pass metadata/client_reference_id to override)."""
        if metadata is None:
            metadata = {k: v for k, v in (("topup_id", topup_id), ("user_id", user_id),
                                          ("payment_id", payment_id)) if v is not None}
        if client_reference_id == "":
            client_reference_id = topup_id
        session = shapes.checkout_session(
            created=self.now(), amount_total=amount_total, currency=currency, metadata=metadata,
            client_reference_id=client_reference_id,
            livemode=self.livemode if livemode is None else livemode)
        return self._put(session)

    def create_payment_intent(self, amount: int, currency: str = "usd", *,
                              metadata: dict[str, str] | None = None,
                              livemode: bool | None = None) -> dict[str, Any]:
        pi = shapes.payment_intent(created=self.now(), amount=amount, currency=currency,
                                   metadata=metadata or {},
                                   livemode=self.livemode if livemode is None else livemode)
        self._put(pi)
        self.emit("payment_intent.created", pi)
        return pi

    def succeed_payment_intent(self, pi_id: str) -> dict[str, Any]:
        pi = self.get("payment_intent", pi_id)
        ch = self._put(shapes.charge(created=self.now(), pi=pi, status="succeeded"))
        pi.update(status="succeeded", amount_received=pi["amount"], latest_charge=ch["id"],
                  processing=None)
        self.emit("charge.succeeded", ch)
        self.emit("payment_intent.succeeded", pi)
        return pi

    def fail_payment_intent(self, pi_id: str) -> dict[str, Any]:
        pi = self.get("payment_intent", pi_id)
        ch = self._put(shapes.charge(created=self.now(), pi=pi, status="failed"))
        pi.update(status="requires_payment_method", latest_charge=ch["id"], processing=None,
                  last_payment_error={"type": "card_error", "code": "card_declined",
                                      "message": "Your card was declined."})
        self.emit("charge.failed", ch)
        self.emit("payment_intent.payment_failed", pi)
        return pi

    def complete_checkout(self, session_id: str, *, delayed: bool = False) -> dict[str, Any]:
        """The customer pays. `delayed`: an asynchronous method (session complete, unpaid,
        PaymentIntent processing) settled later by `settle_delayed_checkout`."""
        session = self.get("checkout.session", session_id)
        pi = self.create_payment_intent(session["amount_total"], session["currency"],
                                        metadata=session["metadata"],
                                        livemode=session["livemode"])
        session["payment_intent"] = pi["id"]
        if delayed:
            pi.update(status="processing", processing={"type": "us_bank_account"})
            self.emit("payment_intent.processing", pi)
            session.update(status="complete", payment_status="unpaid")
        else:
            self.succeed_payment_intent(pi["id"])
            session.update(status="complete", payment_status="paid")
        self.emit("checkout.session.completed", session)
        return session

    def settle_delayed_checkout(self, session_id: str, *, succeeded: bool) -> dict[str, Any]:
        session = self.get("checkout.session", session_id)
        if succeeded:
            self.succeed_payment_intent(session["payment_intent"])
            session["payment_status"] = "paid"
            self.emit("checkout.session.async_payment_succeeded", session)
        else:
            self.fail_payment_intent(session["payment_intent"])
            self.emit("checkout.session.async_payment_failed", session)
        return session

    def expire_checkout(self, session_id: str) -> dict[str, Any]:
        session = self.get("checkout.session", session_id)
        session["status"] = "expired"
        self.emit("checkout.session.expired", session)
        return session

    def charge_of(self, session_or_pi_id: str) -> dict[str, Any]:
        pi_id = session_or_pi_id
        if session_or_pi_id.startswith("cs_"):
            pi_id = self.get("checkout.session", session_or_pi_id)["payment_intent"]
        return self.get("charge", self.get("payment_intent", pi_id)["latest_charge"])

    def refund(self, charge_id: str, amount: int | None = None, *,
               status: str = "succeeded") -> dict[str, Any]:
        ch = self.get("charge", charge_id)
        amount = ch["amount"] - ch["amount_refunded"] if amount is None else amount
        re = self._put(shapes.refund(created=self.now(), ch=ch, amount=amount, status=status))
        ch["amount_refunded"] += amount
        ch["refunded"] = ch["amount_refunded"] >= ch["amount"]
        self.emit("charge.refunded", ch)
        self.emit("refund.created", re)
        return re

    def fail_refund(self, refund_id: str, *, status: str = "failed") -> dict[str, Any]:
        re = self.get("refund", refund_id)
        ch = self.get("charge", re["charge"])
        re["status"] = status
        ch["amount_refunded"] -= re["amount"]
        ch["refunded"] = False
        self.emit("charge.refund.updated", re)
        self.emit("refund.failed" if status == "failed" else "refund.updated", re)
        return re

    def open_dispute(self, charge_id: str, amount: int | None = None, *,
                     inquiry: bool = False) -> dict[str, Any]:
        """A chargeback (funds withdrawn at once) or an inquiry (`warning_needs_response`)."""
        ch = self.get("charge", charge_id)
        amount = ch["amount"] if amount is None else amount
        dp = self._put(shapes.dispute(created=self.now(), ch=ch, amount=amount,
                                      status="warning_needs_response" if inquiry
                                      else "needs_response"))
        ch["disputed"] = True
        self.emit("charge.dispute.created", dp)
        if not inquiry:
            dp["balance_transactions"].append(shapes.balance_transaction(
                created=self.now(), amount=-amount, currency=dp["currency"], source=dp["id"],
                kind="dispute"))
            self.emit("charge.dispute.funds_withdrawn", dp)
        return dp

    def close_dispute(self, dispute_id: str, *, won: bool) -> dict[str, Any]:
        dp = self.get("dispute", dispute_id)
        inquiry = dp["status"].startswith("warning_")
        if won and not inquiry:
            dp["balance_transactions"].append(shapes.balance_transaction(
                created=self.now(), amount=dp["amount"], currency=dp["currency"],
                source=dp["id"], kind="dispute_reversal"))
            dp["status"] = "won"
            self.emit("charge.dispute.funds_reinstated", dp)
        elif inquiry:
            dp["status"] = "warning_closed"
        else:
            dp["status"] = "lost"
        self.emit("charge.dispute.closed", dp)
        return dp

    # ------------------------------------------------------------------ HTTP
    def app(self) -> Starlette:
        routes = [Route("/v1/billing/meter_events", self._meter_event_create, methods=["POST"])]
        for kind, path in COLLECTIONS.items():
            routes.append(Route(f"/v1/{path}", self._lister(kind), methods=["GET"]))
            routes.append(Route(f"/v1/{path}/{{id}}", self._retriever(kind), methods=["GET"]))
        routes.append(Route("/v1/customers", self._customer_create, methods=["POST"]))
        routes.append(Route("/v1/checkout/sessions", self._session_create, methods=["POST"]))
        return Starlette(routes=routes,
                         middleware=[Middleware(BaseHTTPMiddleware, dispatch=self._gate)])

    async def _gate(self, request: Request, call_next: Callable) -> Any:
        with self._lock:
            self.requests.append((request.method, request.url.path, request.url.query))
            self.stripe_versions.append(request.headers.get("stripe-version"))
            failure = self._failures.pop(0) if self._failures else None
        auth = request.headers.get("authorization", "")
        if auth != f"Bearer {self.api_key}":
            shown = auth.removeprefix("Bearer ")
            masked = f"{shown[:8]}{'*' * 8}{shown[-4:]}" if len(shown) > 12 else "****"
            return stripe_error(401, "invalid_request_error",
                                f"Invalid API Key provided: {masked}")
        if failure == 429:
            return stripe_error(429, "invalid_request_error",
                                "Request rate limit exceeded. Please retry after a short wait.",
                                code="rate_limit")
        if failure is not None:
            return stripe_error(failure, "api_error",
                                "An unknown error occurred while processing this request.")
        return await call_next(request)

    def _lister(self, kind: str) -> Callable:
        async def handler(request: Request) -> JSONResponse:
            params = _nest(request.query_params.multi_items())
            try:
                limit = int(params.get("limit", 10))
            except ValueError:
                return stripe_error(400, "invalid_request_error", "Invalid integer: limit",
                                    param="limit")
            if not 1 <= limit <= 100:
                return stripe_error(400, "invalid_request_error",
                                    "This value must be between 1 and 100.", param="limit")
            items = [o for o in self.objects(kind) if self._matches(o, params)]
            ids = [o["id"] for o in items]
            if "starting_after" in params:
                if params["starting_after"] not in ids:
                    return self._missing(kind, params["starting_after"], "starting_after")
                rest = items[ids.index(params["starting_after"]) + 1:]
                page, has_more = rest[:limit], len(rest) > limit
            elif "ending_before" in params:
                if params["ending_before"] not in ids:
                    return self._missing(kind, params["ending_before"], "ending_before")
                before = items[:ids.index(params["ending_before"])]
                page, has_more = before[-limit:], len(before) > limit
            else:
                page, has_more = items[:limit], len(items) > limit
            return JSONResponse({"object": "list", "data": page, "has_more": has_more,
                                 "url": f"/v1/{COLLECTIONS[kind]}"})
        return handler

    @staticmethod
    def _matches(obj: dict[str, Any], params: dict[str, Any]) -> bool:
        created = params.get("created")
        if isinstance(created, dict):
            ops = {"gte": int.__ge__, "gt": int.__gt__, "lte": int.__le__, "lt": int.__lt__}
            for op, value in created.items():
                if op in ops and not ops[op](obj["created"], int(value)):
                    return False
        elif created is not None and obj["created"] != int(created):
            return False
        if "type" in params and not fnmatch.fnmatchcase(obj.get("type", ""), params["type"]):
            return False
        if "types" in params and obj.get("type") not in set(params["types"].values()):
            return False
        for key in ("charge", "payment_intent", "customer", "email"):
            if key in params and obj.get(key) != params[key]:
                return False
        return True

    def _retriever(self, kind: str) -> Callable:
        async def handler(request: Request) -> JSONResponse:
            object_id = request.path_params["id"]
            with self._lock:
                obj = self._objects[kind].get(object_id)
                body = copy.deepcopy(obj) if obj is not None else None
            if body is None:
                return self._missing(kind, object_id, "id")
            return JSONResponse(body)
        return handler

    @staticmethod
    def _missing(kind: str, object_id: str, param: str) -> JSONResponse:
        return stripe_error(404, "invalid_request_error", f"No such {kind}: '{object_id}'",
                            code="resource_missing", param=param)

    async def _customer_create(self, request: Request) -> JSONResponse:
        form = _nest(await _form_items(request))
        return JSONResponse(self.create_customer(email=form.get("email"), name=form.get("name"),
                                                 metadata=form.get("metadata")))

    async def _session_create(self, request: Request) -> JSONResponse:
        form = _nest(await _form_items(request))
        lines = form.get("line_items", {})
        total, currency = 0, "usd"
        for line in lines.values():
            price = line.get("price_data", {})
            total += int(price.get("unit_amount", 0)) * int(line.get("quantity", 1))
            currency = price.get("currency", currency)
        return JSONResponse(self.create_checkout_session(
            total, currency, metadata=form.get("metadata", {}),
            client_reference_id=form.get("client_reference_id")))

    async def _meter_event_create(self, request: Request) -> JSONResponse:
        form = _nest(await _form_items(request))
        with self._lock:
            self.meter_event_requests.append(form)
        payload = form.get("payload") or {}
        for field, value in (("event_name", form.get("event_name")),
                             ("payload[stripe_customer_id]", payload.get("stripe_customer_id")),
                             ("payload[value]", payload.get("value"))):
            if not value:
                return stripe_error(400, "invalid_request_error",
                                    f"Missing required param: {field}.",
                                    code="parameter_missing", param=field)
        try:
            int(payload["value"])
        except ValueError:
            return stripe_error(400, "invalid_request_error",
                                "Meter event value must be an integer.",
                                code="parameter_invalid_integer", param="payload[value]")
        now = self.now()
        timestamp = int(form.get("timestamp", now))
        if timestamp < now - METER_EVENT_MAX_AGE_S:
            return stripe_error(400, "invalid_request_error",
                                "Timestamp must be within the past 35 calendar days.",
                                code="timestamp_too_far_in_past", param="timestamp")
        if timestamp > now + METER_EVENT_MAX_FUTURE_S:
            return stripe_error(400, "invalid_request_error",
                                "Timestamp must not be more than 5 minutes in the future.",
                                code="timestamp_in_future", param="timestamp")
        identifier = form.get("identifier") or shapes.new_id("mev")
        with self._lock:
            if identifier in self._meter_events:
                return stripe_error(
                    400, "invalid_request_error",
                    f"An event with identifier '{identifier}' already exists.",
                    code="resource_already_exists", param="identifier")
            event = shapes.meter_event(created=now, event_name=form["event_name"],
                                       identifier=identifier, payload=payload,
                                       timestamp=timestamp, livemode=self.livemode)
            self._meter_events[identifier] = event
        return JSONResponse(event)


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))
