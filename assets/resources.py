"""Resource types the assets ask for. Instances are built by `pipelines.resources`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from usage_model.config import Settings
from usage_model.warehouse import connect_waiting, ensure_schema


class CityUsageSettings(dg.ConfigurableResource):
    """Paths and rules from the environment (README 'Running it'), read at run time."""

    def get(self) -> Settings:
        return Settings.from_env()


class WarehouseResource(DuckDBResource):
    """DuckDBResource whose connect waits only on the file lock (another process writing or
    reading), up to CITY_USAGE_LOCK_TIMEOUT_S (default 300 s), and fails at once otherwise.
    Writers inside Dagster also share the pool `duckdb_warehouse`, so they never wait here."""

    lock_timeout_s: float = 300.0

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        conn = connect_waiting(self.database, self.lock_timeout_s, dict(self.connection_config))
        try:
            conn.execute("SET TimeZone = 'UTC'")
            ensure_schema(conn)  # idempotent DDL of every domain: a fresh warehouse just works
            yield conn
        finally:
            conn.close()
