"""Resource types the assets ask for. Instances are built by `pipelines.resources`."""

from __future__ import annotations

import dagster as dg

from usage_model.config import Settings


class CityUsageSettings(dg.ConfigurableResource):
    """Paths and rules from the environment (DESIGN.md 'Configuration'), read at run time."""

    def get(self) -> Settings:
        return Settings.from_env()
