"""Fixtures for the read surface: a warehouse with sample history, shared per module."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.read.fixture import build_summaries, sample_rows, write_curated
from usage_model.config import Settings


def make_settings(root: Path, **overrides: object) -> Settings:
    data = root / "data"
    base = Settings(data_dir=data, landing=data / "landing", warehouse=data / "warehouse.duckdb",
                    curated=data / "curated", exports=data / "exports")
    return replace(base, **overrides)


@pytest.fixture(scope="module")
def sample_rows_list() -> list[dict]:
    return sample_rows()


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, sample_rows_list: list[dict]) -> Settings:
    """50 days of random events (2026-01-20 .. 2026-03-10) with every summary table built."""
    settings = make_settings(tmp_path_factory.mktemp("history"))
    write_curated(settings, sample_rows_list)
    build_summaries(settings)
    return settings
