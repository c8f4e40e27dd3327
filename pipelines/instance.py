"""Which Dagster instance the CLI records its runs in: the same one `make ui` shows.

DAGSTER_HOME when set; otherwise `<CITY_USAGE_DATA_DIR>/dagster`, next to the data its runs
built (the Makefile uses the same default, so `uv run city-usage materialize` and `make ui`
agree without any setting). A new home gets the project's dagster.yaml (the DuckDB pool).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from usage_model.config import Environment, export_dagster_home

PROJECT_INSTANCE_YAML = Path(__file__).resolve().parents[1] / "dagster.yaml"


def dagster_home() -> Path:
    return Environment.load().dagster_home_path()


def prepare_dagster_home() -> Path:
    """Create the home (with dagster.yaml when the project ships one) and point DAGSTER_HOME
    at it for this process."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() and PROJECT_INSTANCE_YAML.exists():
        shutil.copyfile(PROJECT_INSTANCE_YAML, config)
    export_dagster_home(home)
    return home
