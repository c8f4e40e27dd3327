"""Run the real `city-usage` command in a subprocess with a test's environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-c", "from pipelines.cli import main; main()"]
ROOT = Path(__file__).resolve().parents[1]


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(extra or {})
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300):
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=cli_env(env), cwd=ROOT,
        timeout=timeout,
    )


def start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=cli_env(env), cwd=ROOT,
    )


def run_cli_as_user(*args: str, env: dict[str, str] | None = None, timeout: float = 300):
    """`run_cli` with file permissions enforced as for an ordinary user.

    Root reads a chmod 000 file anyway (CAP_DAC_OVERRIDE). Under root the command runs
    without that capability and CAP_DAC_READ_SEARCH (still uid 0, so it owns every file
    the test wrote), so the kernel itself refuses unreadable files. Returns None when this
    machine cannot drop them (no setpriv, or not allowed).
    """
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            return None
        prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]
        probe = subprocess.run([*prefix, "true"], capture_output=True)
        if probe.returncode != 0:
            return None
    return subprocess.run(
        [*prefix, *CLI, *args], capture_output=True, text=True, env=cli_env(env), cwd=ROOT,
        timeout=timeout,
    )
