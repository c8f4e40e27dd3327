"""The `city-usage` command. Each domain registers its commands from its own module."""

from __future__ import annotations

import typer

from pipelines.cli import export_cmds, funding_cmds, read_cmds, usage_cmds

app = typer.Typer(
    name="city-usage",
    help="Usage analytics and billing facts for Downcity cities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (usage_cmds, read_cmds, funding_cmds, export_cmds):
    module.register(app)
