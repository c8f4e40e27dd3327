"""Hooks and exports: built from city-usage.yaml (CITY_USAGE_CONFIG, default ./city-usage.yaml).

The file is validated here, when the definitions load: an invalid file stops the code
location with one line naming the file and the key; an absent file means no hooks and no
exports.
"""

from __future__ import annotations

import dagster as dg

from assets.exports import build_export_assets
from pipelines.partitions import daily_partitions, monthly_partitions
from usage_model.hooks.config import config_path_from_env, load_config


def definitions() -> dg.Definitions:
    config = load_config(config_path_from_env())
    if config is None:
        return dg.Definitions()
    assets = build_export_assets(config, {"day": daily_partitions, "month": monthly_partitions})
    return dg.Definitions(assets=assets)
