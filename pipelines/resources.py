"""Resources shared by every domain, built from the one settings object
(`usage_model.config.Environment`) when the definitions load."""

from __future__ import annotations

from assets.resources import CityUsageSettings, WarehouseResource
from usage_model.config import Environment

__all__ = ["CityUsageSettings", "WarehouseResource", "build_resources"]


def build_resources() -> dict[str, object]:
    env = Environment.load()
    limits = {"memory_limit": env.duckdb_memory_limit} if env.duckdb_memory_limit else {}
    return {
        "duckdb": WarehouseResource(database=str(env.settings().warehouse),
                                    lock_timeout_s=env.lock_timeout_s, connection_config=limits),
        "settings": CityUsageSettings(),
    }
