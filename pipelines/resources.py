"""Resources shared by every domain, built from the one settings object
(`usage_model.config.Environment`) when the definitions load."""

from __future__ import annotations

from assets.resources import CityUsageSettings, WarehouseResource
from usage_model.config import Environment

__all__ = ["CityUsageSettings", "WarehouseResource", "build_resources"]


def build_resources() -> dict[str, object]:
    env = Environment.load()
    return {
        "duckdb": WarehouseResource(database=str(env.settings().warehouse),
                                    lock_timeout_s=env.lock_timeout_s),
        "settings": CityUsageSettings(),
    }
