"""Resources shared by every domain. Configuration comes from the environment."""

from __future__ import annotations

import os

from assets.resources import CityUsageSettings, WarehouseResource
from usage_model.config import Settings

__all__ = ["CityUsageSettings", "WarehouseResource", "build_resources"]


def build_resources() -> dict[str, object]:
    settings = Settings.from_env()
    return {
        "duckdb": WarehouseResource(
            database=str(settings.warehouse),
            lock_timeout_s=float(os.environ.get("CITY_USAGE_LOCK_TIMEOUT_S") or 300),
        ),
        "settings": CityUsageSettings(),
    }
