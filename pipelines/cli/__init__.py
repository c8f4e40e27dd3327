"""The `city-usage` command. Each domain registers its commands from its own module.

Every failure is one line on stderr: exit 2 for bad input (unknown option, bad date),
1 for a runtime failure (locked warehouse, failed step). No tracebacks
(docs/event-model.md rule 13).
"""

from __future__ import annotations

import sys
import warnings

import typer

from pipelines.cli import config_cmds, export_cmds, funding_cmds, read_cmds, usage_cmds
from pipelines.cli.errors import BAD_INPUT, fail
from usage_model.config import BadSetting

app = typer.Typer(
    name="city-usage",
    help="Usage analytics and billing facts for Downcity cities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (usage_cmds, read_cmds, funding_cmds, export_cmds, config_cmds):
    module.register(app)


def main() -> None:
    """Entry point: run the app, turning click's multi-line usage errors into one line."""
    # Dagster's beta/preview notices are for developers of the code location, not CLI users.
    warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview)")
    command = typer.main.get_command(app)
    try:
        code = command.main(args=sys.argv[1:], prog_name="city-usage", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        fail("aborted")
    except BadSetting as exc:  # a bad environment variable is input, like a bad option
        fail(str(exc), BAD_INPUT)
    # Typer 0.29 runs its own vendored click and exports only the base of its errors,
    # TyperException (UsageError: exit_code 2 and the failing command's ctx).
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.exit(0)  # typer has already shown the help
        ctx = getattr(exc, "ctx", None)
        hint = f" (see: city-usage {ctx.info_name} --help)" if ctx and ctx.parent else ""
        fail(f"{exc.format_message()}{hint}", exc.exit_code)
    except Exception as exc:  # anything unforeseen still ends in one line, not a traceback
        fail(f"{type(exc).__name__}: {exc}")
    sys.exit(code if isinstance(code, int) else 0)
