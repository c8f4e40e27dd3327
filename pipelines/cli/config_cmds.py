"""`city-usage config`: the effective configuration, one variable a line, secrets masked."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pipelines.cli.errors import BAD_INPUT, fail
from usage_model.config import effective, named_secret


def _sink_secrets() -> list[tuple[str, str, str]]:
    """The webhook secrets city-usage.yaml names (set or unset; never their value)."""
    from usage_model.hooks.config import ConfigError, WebhookExport, load_config

    try:
        config = load_config()
    except ConfigError:
        return []  # `city-usage exports check-config` reports the file's problem
    rows = []
    for export in (config.exports.values() if config else ()):
        if isinstance(export, WebhookExport):
            name = export.secret_env
            shown = "(set, hidden)" if named_secret(name) is not None else "unset"
            rows.append((name, shown, f"env (exports.{export.name}.secret_env)"))
    return rows


def show_config(
    format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Print every setting: name, effective value and where it came from (env or default).

    Secrets (Stripe keys, the S3 secret key, webhook secrets named in city-usage.yaml) show
    only whether they are set, never their value.
    """
    if format not in ("table", "json"):
        fail(f"--format {format!r}: expected table or json", BAD_INPUT)
    rows = [*effective(), *_sink_secrets()]
    if format == "json":
        typer.echo(json.dumps([{"name": n, "value": v, "source": s} for n, v, s in rows],
                              indent=2))
        return
    width = max(len(name) for name, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    typer.echo(f"{'NAME':<{width}}  {'VALUE':<{value_width}}  SOURCE")
    for name, value, source in rows:
        typer.echo(f"{name:<{width}}  {value:<{value_width}}  {source}")


def register(app: typer.Typer) -> None:
    """Add the `config` command to the `city-usage` app."""
    app.command("config")(show_config)
