"""`city-usage exports check-config` and `city-usage exports status`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pipelines.cli.errors import BAD_INPUT, fail
from usage_model.config import Settings
from usage_model.exports.ledger import status as ledger_status
from usage_model.hooks.config import ConfigError, load_config
from usage_model.warehouse import WarehouseLocked, WarehouseMissing, connect

exports_app = typer.Typer(help="Hooks and billing exports (city-usage.yaml).",
                          no_args_is_help=True)


@exports_app.command("check-config")
def check_config() -> None:
    """Validate city-usage.yaml (CITY_USAGE_CONFIG) as the definitions will load it."""
    path = Settings.from_env().config_file
    try:
        config = load_config(path)
    except ConfigError as exc:
        fail(str(exc), BAD_INPUT)
    if config is None:
        print(f"{path}: absent: no hooks and no exports")
        return
    hooks = [f"{name}: {h.hook_name} per {h.period}" for name, h in
             (("pricing", config.pricing), ("entitlements", config.entitlements)) if h]
    print(f"{path}: ok")
    for line in hooks:
        print(f"  {line}")
    for export in config.exports.values():
        print(f"  export {export.name}: {export.source} per {export.period} -> {export.sink}")


@exports_app.command("status")
def status(
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """What the export ledger delivered, per export and period."""
    if fmt not in ("table", "json"):
        fail(f"--format: expected table or json, got {fmt!r}", BAD_INPUT)
    settings = Settings.from_env()
    try:
        with connect(settings.warehouse, read_only=True) as conn:
            has_ledger = conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = "
                "'export_ledger'").fetchall()[0][0]
            rows = ledger_status(conn) if has_ledger else []
    except (WarehouseLocked, WarehouseMissing) as exc:
        fail(str(exc))
    if fmt == "json":
        print(json.dumps(rows, default=str))
        return
    table = Table("export", "period", "latest", "delivered", "pending", "rows", "last delivered")
    for r in rows:
        table.add_row(r["export"], r["period"], str(r["latest_version"]),
                      str(r["delivered_versions"]), str(r["pending_versions"]),
                      str(r["delivered_rows"] or 0), str(r["last_delivered_at"] or "-"))
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the `city-usage` app."""
    app.add_typer(exports_app, name="exports")
