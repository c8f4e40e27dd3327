"""Funding commands: `stripe-webhook` (the receiver) and `balances` (read the ledger sums)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pipelines.cli.errors import BAD_INPUT, fail
from usage_model.config import Environment, Settings
from usage_model.warehouse import WarehouseLocked, WarehouseMissing, connect

_BALANCES = """
SELECT user_id, unit, balance, entries, updated_at FROM balances
WHERE $user IS NULL OR user_id = $user ORDER BY user_id, unit
"""


def stripe_webhook(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 = any free).")] = 8787,
) -> None:
    """Receive Stripe webhooks on POST /stripe/webhook and land verified events durably.

    Bodies over 256 KiB get 413 unread; signatures more than 300 s off (past or future) and
    bodies that are not a JSON event get 400. The first body of an event id is kept.
    """
    import socket

    import uvicorn

    from usage_model.funding.webhook import webhook_app

    env = Environment.load()
    if env.stripe_webhook_secret is None:
        # configuration is input: exit 2, like a bad option
        fail("STRIPE_WEBHOOK_SECRET is not set; the receiver cannot verify deliveries",
             BAD_INPUT)
    secret = env.stripe_webhook_secret.get_secret_value()
    events = env.settings().stripe_events_location()
    # Bind here so a taken port or a bad interface is one clear line before uvicorn starts.
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    bound = sock.getsockname()[1]
    typer.echo(f"listening on http://{host}:{bound}/stripe/webhook; landing verified Stripe "
               f"events in {events.uri}", err=True)
    config = uvicorn.Config(webhook_app(events, secret), log_level="info", access_log=False)
    with sock:
        uvicorn.Server(config).run(sockets=[sock])


def balances(
    user: Annotated[str | None, typer.Option(help="Only this user_id.")] = None,
    format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Balance per user (credits), equal to the ledger sum."""
    if format not in ("table", "json"):
        fail(f"--format {format!r}: expected table or json", BAD_INPUT)
    try:
        with connect(Settings.from_env().warehouse, read_only=True) as conn:
            cur = conn.execute(_BALANCES, {"user": user})
            columns = [d[0] for d in cur.description]
            rows = [dict(zip(columns, r, strict=True)) for r in cur.fetchall()]
    except (WarehouseLocked, WarehouseMissing) as exc:
        fail(str(exc))
    except Exception as exc:  # a warehouse without the funding tables yet
        fail(f"cannot read balances: {str(exc).splitlines()[0]}")
    if format == "json":
        typer.echo(json.dumps(rows, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("user_id", "unit", "balance", "entries", "updated_at")
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("user_id", "unit", "balance", "entries",
                                               "updated_at")))
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the `city-usage` app."""
    app.command("stripe-webhook")(stripe_webhook)
    app.command("balances")(balances)
