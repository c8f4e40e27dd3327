"""Shared fixtures: every test gets its own data folder, warehouse and Dagster instance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tests.environment import CONFIG_VARS
from usage_model.config import Settings


@pytest.fixture(autouse=True)
def real_clock_unless_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CITY_USAGE_NOW left in the caller's shell must not freeze the clock of every test;
    tests that need a frozen clock set it themselves (see tests/funding/conftest.py)."""
    monkeypatch.delenv("CITY_USAGE_NOW", raising=False)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A fresh embedded-default layout under tmp_path, configured through the environment."""
    for var in CONFIG_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CITY_USAGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CITY_USAGE_CONFIG", str(tmp_path / "city-usage.yaml"))
    return Settings.from_env()


@pytest.fixture
def dagster_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    """A real local Dagster instance (sqlite storage) in its own DAGSTER_HOME."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    repo_yaml = Path(__file__).resolve().parent.parent / "dagster.yaml"
    (home / "dagster.yaml").write_text(repo_yaml.read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        yield instance
