"""Resources shared by every domain. Configuration comes from the environment (EnvVar)."""

from __future__ import annotations

import dagster as dg
from dagster_duckdb import DuckDBResource

from usage_model.config import Settings


class CityUsageSettings(dg.ConfigurableResource):
    """Paths and rules from the environment (DESIGN.md 'Configuration')."""

    def get(self) -> Settings:
        return Settings.from_env()


def build_resources() -> dict[str, object]:
    settings = Settings.from_env()
    return {
        "duckdb": DuckDBResource(database=str(settings.warehouse)),
        "settings": CityUsageSettings(),
    }
