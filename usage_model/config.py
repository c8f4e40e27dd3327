"""Configuration from the environment, with embedded defaults that need none of it.

The variables are fixed by DESIGN.md; everything is resolved when `Settings.from_env()` is
called (never at import time), so tests can point a process at a temporary folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from usage_model.storage import Location, is_remote, location, s3_options_from_env


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    landing: Path
    warehouse: Path
    curated: Path
    exports: Path
    timezone: str = "UTC"
    partition_start: str = "2024-01-01"
    record_errors: bool = True
    future_skew: timedelta = field(default=timedelta(days=1))
    quarantine_rate_max: float = 0.05
    config_file: Path = Path("city-usage.yaml")
    # CITY_USAGE_LANDING as given when it is an object-store prefix (`s3://bucket/prefix`):
    # usage files are then read from `<it>/usage`; `landing` stays the local folder of the
    # balance and Stripe landings.
    landing_uri: str | None = None

    @property
    def usage_landing(self) -> Path:
        return self.landing / "usage"

    def usage_landing_location(self) -> Location:
        """Where usage files land, as a local folder or an `s3://` prefix."""
        if self.landing_uri:
            return location(self.landing_uri.rstrip("/") + "/usage", self.s3_options())
        return location(self.usage_landing)

    def s3_options(self) -> dict[str, object]:
        """`pyarrow.fs.S3FileSystem` arguments from the standard AWS variables."""
        return s3_options_from_env(os.environ)

    @property
    def balance_landing(self) -> Path:
        return self.landing / "balance"

    @property
    def stripe_events_landing(self) -> Path:
        return self.landing / "stripe" / "events"

    @property
    def report_path(self) -> Path:
        """Where the usage_report asset writes the HTML report."""
        return self.data_dir / "report.html"

    @property
    def events_root(self) -> Path:
        """Curated events: one folder per day, `events/day=YYYY-MM-DD/part-0.parquet`."""
        return self.curated / "events"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        data_dir = Path(env.get("CITY_USAGE_DATA_DIR") or "./data").absolute()
        landing_env = env.get("CITY_USAGE_LANDING") or ""
        remote = is_remote(landing_env)
        landing = Path(landing_env if landing_env and not remote else data_dir / "landing")
        landing = landing.absolute()
        return cls(
            data_dir=data_dir,
            landing=landing,
            warehouse=Path(env.get("CITY_USAGE_WAREHOUSE") or data_dir / "warehouse.duckdb")
            .absolute(),
            curated=Path(env.get("CITY_USAGE_CURATED") or data_dir / "curated").absolute(),
            exports=Path(env.get("CITY_USAGE_EXPORTS") or data_dir / "exports").absolute(),
            timezone=env.get("CITY_USAGE_TIMEZONE") or "UTC",
            partition_start=env.get("CITY_USAGE_PARTITION_START") or "2024-01-01",
            record_errors=_env_bool("CITY_USAGE_RECORD_ERRORS", True),
            future_skew=timedelta(hours=float(env.get("CITY_USAGE_FUTURE_SKEW_HOURS") or 24)),
            quarantine_rate_max=float(env.get("CITY_USAGE_QUARANTINE_RATE_MAX") or 0.05),
            config_file=Path(env.get("CITY_USAGE_CONFIG") or "city-usage.yaml").absolute(),
            landing_uri=landing_env if remote else None,
        )
