"""Resources shared by every domain. Configuration comes from the environment."""

from __future__ import annotations

from dagster_duckdb import DuckDBResource

from assets.resources import CityUsageSettings
from usage_model.config import Settings

__all__ = ["CityUsageSettings", "build_resources"]


def build_resources() -> dict[str, object]:
    settings = Settings.from_env()
    return {
        "duckdb": DuckDBResource(database=str(settings.warehouse)),
        "settings": CityUsageSettings(),
    }
