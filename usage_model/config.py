"""The one place configuration is read: every environment variable, declared once.

`Environment` (pydantic-settings) declares each variable with its type, default and meaning;
the README's configuration table and `city-usage config` are both checked against it.
Nothing here runs at import time: `Settings.from_env()` (paths and rules) and
`Environment.load()` (everything, including secrets) read the environment when called, so a
test or a Dagster run sees the environment of that moment.
A bad value is a `BadSetting`: one line naming the variable and what is wrong.
Secrets are `SecretStr`: their value is never in a repr, a log line or an error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from usage_model.funding.config import FundingConfig, parse_sync_start
from usage_model.funding.currency import parse_rates
from usage_model.storage import Location, is_remote, location, s3_options_from_env


class BadSetting(ValueError):
    """An environment variable with a value that cannot be used (one line, never the value
    of a secret)."""


def _var(name: str, default: Any, description: str, shown: str | None = None) -> Any:
    """A field read from the environment variable `name`; `shown` is how the README and
    `city-usage config` spell a default computed from other variables."""
    extra = {"shown_default": shown} if shown is not None else None
    return Field(default, validation_alias=name, description=description,
                 json_schema_extra=extra)


def _time_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("not an IANA time zone") from None


def _instant(value: str) -> None:
    from usage_model.clock import parse_instant  # the clock reads its variable via raw()

    parse_instant(value)


_MEMORY_SIZE = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)


def _memory_size(value: str) -> None:
    if not _MEMORY_SIZE.fullmatch(value.strip()):
        raise ValueError("expected a size such as 512MB or 2GB")


# The text-valued variables with a format of their own, and the parser that checks it.
_TEXT_PARSERS = {
    "timezone": _time_zone,
    "stripe_sync_start": parse_sync_start,
    "now": _instant,
    "credits_per_minor_unit": parse_rates,
    "duckdb_memory_limit": _memory_size,
}


class Environment(BaseSettings):
    """Every variable the project reads. An empty value counts as unset."""

    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True,
                                      extra="ignore", frozen=True)

    data_dir: Path = _var("CITY_USAGE_DATA_DIR", Path("data"),
                          "Root of every local data folder (relative: to the working directory).")
    landing: str | None = _var("CITY_USAGE_LANDING", None,
                               "Where source files land (usage/, balance/, stripe/events/); an "
                               "`s3://bucket/prefix` puts all three on object storage.",
                               "<CITY_USAGE_DATA_DIR>/landing")
    warehouse: Path | None = _var("CITY_USAGE_WAREHOUSE", None, "The DuckDB warehouse file.",
                                  "<CITY_USAGE_DATA_DIR>/warehouse.duckdb")
    curated: str | None = _var("CITY_USAGE_CURATED", None,
                               "Curated events, one Parquet folder per day; an "
                               "`s3://bucket/prefix` puts them on object storage.",
                               "<CITY_USAGE_DATA_DIR>/curated")
    exports: Path | None = _var("CITY_USAGE_EXPORTS", None, "Where the files sink writes.",
                                "<CITY_USAGE_DATA_DIR>/exports")
    timezone: str = _var("CITY_USAGE_TIMEZONE", "UTC",
                         "IANA time zone of days and months (partitions, summaries, ranges).")
    partition_start: date = _var("CITY_USAGE_PARTITION_START", date(2024, 1, 1),
                                 "First day of the daily and monthly partitions.")
    record_errors: bool = _var("CITY_USAGE_RECORD_ERRORS", True,
                               "Keep failed calls (status error) as events.")
    future_skew_hours: float = _var("CITY_USAGE_FUTURE_SKEW_HOURS", 24.0,
                                    "How far in the future an event may lie before it is "
                                    "quarantined.")
    quarantine_rate_max: float = _var("CITY_USAGE_QUARANTINE_RATE_MAX", 0.05,
                                      "Share of quarantined rows above which the usage check "
                                      "fails.")
    config_file: Path = _var("CITY_USAGE_CONFIG", Path("city-usage.yaml"),
                             "The hooks and exports file (absent: no hooks, no exports).")
    lock_timeout_s: float = _var("CITY_USAGE_LOCK_TIMEOUT_S", 300.0,
                                 "Seconds to wait for another process's warehouse lock.")
    duckdb_memory_limit: str | None = _var(
        "CITY_USAGE_DUCKDB_MEMORY_LIMIT", None,
        "DuckDB `memory_limit` of the pipeline's warehouse connections and of the in-memory "
        "DuckDBs of the read, fold and summary steps, e.g. `2GB`; past it sorts, joins and "
        "aggregates spill to disk.", "DuckDB's: 80% of RAM")
    scan_workers: int = _var("CITY_USAGE_SCAN_WORKERS", 1,
                             "Processes that read and validate new landed files in parallel "
                             "(1: one after another in the pipeline's process).")
    read_steps: int = _var("CITY_USAGE_READ_STEPS", 0,
                           "Dagster steps that share the reading of new landed files (distributed "
                           "mode: they run in parallel on the Celery workers; `.cluster/env` "
                           "sets 2). 0: the warehouse step reads them itself, saving two steps' "
                           "start-up and the results' round trip.")
    summary_steps: int = _var("CITY_USAGE_SUMMARY_STEPS", 0,
                              "Dagster steps that share the computation of the daily summaries' "
                              "days (distributed mode: they run in parallel on the Celery "
                              "workers; `.cluster/env` sets 2). 0: the warehouse step computes "
                              "every day itself, saving the steps' start-up and the rows' "
                              "round trip.")
    fold_steps: bool = _var("CITY_USAGE_FOLD_STEPS", False,
                            "Run each bucket range of the id index update as a Dagster step of "
                            "its own (distributed mode: on any Celery worker; `.cluster/env` "
                            "sets it), the warehouse step keeping only the commit. Off: the "
                            "warehouse step folds every range itself, saving the steps' start-up.")
    index_rows_per_fold: int | None = _var(
        "CITY_USAGE_INDEX_ROWS_PER_FOLD", None,
        "Index rows (new and carried) one bucket range of the id index update holds and sorts "
        "at once: one fold step each.", "1000000")
    credits_per_minor_unit: str | None = _var(
        "CITY_USAGE_CREDITS_PER_MINOR_UNIT", None,
        "Credits per minor currency unit, `usd=10000,eur=11000`.", "usd=10000")
    stale_pending_hours: float = _var("CITY_USAGE_STALE_PENDING_HOURS", 24.0,
                                      "Hours after which a pending topup is flagged stale.")
    now: str | None = _var("CITY_USAGE_NOW", None,
                           "Freeze the clock at this ISO-8601 instant (tests, replays).",
                           "the real time")
    fault_point: str | None = _var(
        "CITY_USAGE_FAULT_POINT", None,
        "Fault injection for tests: `<name>:<n>[:raise]`, several comma-separated.")
    dagster_home: Path | None = _var("DAGSTER_HOME", None,
                                     "The Dagster instance the CLI and `make ui` record runs in.",
                                     "<CITY_USAGE_DATA_DIR>/dagster")
    stripe_secret_key: SecretStr | None = _var(
        "STRIPE_SECRET_KEY", None, "Stripe API key (unset: the Stripe pull is not configured).")
    stripe_webhook_secret: SecretStr | None = _var(
        "STRIPE_WEBHOOK_SECRET", None, "Signing secret the webhook receiver verifies with.")
    stripe_api_base: str | None = _var("STRIPE_API_BASE", None,
                                       "Another Stripe API address (a local fake).",
                                       "https://api.stripe.com")
    stripe_sync_start: str | None = _var(
        "STRIPE_SYNC_START", None,
        "Oldest Stripe object a first sync lists (ISO date or unix seconds).", "all history")
    stripe_sync_lookback_s: int = _var("STRIPE_SYNC_LOOKBACK_S", 300,
                                       "Seconds a sync re-reads before its cursor.")
    aws_endpoint_url: str | None = _var("AWS_ENDPOINT_URL", None,
                                        "S3 endpoint for s3:// locations (e.g. a local MinIO).",
                                        "the AWS endpoint")
    aws_access_key_id: str | None = _var("AWS_ACCESS_KEY_ID", None, "S3 access key id.")
    aws_secret_access_key: SecretStr | None = _var("AWS_SECRET_ACCESS_KEY", None,
                                                   "S3 secret access key.")
    aws_region: str | None = _var("AWS_REGION", None, "S3 region.")
    executor: str = _var("CITY_USAGE_EXECUTOR", "in_process",
                         "How `city-usage materialize` runs steps: `in_process` or `celery` "
                         "(distributed mode, docs/scale.md).")
    celery_broker: SecretStr | None = _var("CITY_USAGE_CELERY_BROKER", None,
                                           "Celery broker URL of the distributed mode (Redis).")
    celery_backend: SecretStr | None = _var("CITY_USAGE_CELERY_BACKEND", None,
                                            "Celery result backend URL.",
                                            "the broker")
    celery_visibility_timeout_s: int = _var(
        "CITY_USAGE_CELERY_VISIBILITY_TIMEOUT_S", 21600,
        "Seconds before an unacknowledged step is delivered again (above the longest step).")
    fault_once: str | None = _var(
        "CITY_USAGE_FAULT_ONCE", None,
        "Fault injection for tests: each point fires once across processes, recorded in "
        "this file.")

    @field_validator("timezone", "stripe_sync_start", "now", "credits_per_minor_unit",
                     "duckdb_memory_limit")
    @classmethod
    def _parses(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Text values stay text (their readers parse them) but are checked here, so a bad one
        is reported at load time, naming its variable."""
        if value is not None:
            _TEXT_PARSERS[info.field_name](value)
        return value

    @field_validator("scan_workers", "index_rows_per_fold")
    @classmethod
    def _at_least_one(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator("read_steps", "summary_steps")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must be 0 or more")
        return value

    @classmethod
    def load(cls) -> Environment:
        """The environment of this moment; a bad value is one `BadSetting` line."""
        try:
            return cls()
        except ValidationError as exc:
            raise _one_line(exc) from None

    def settings(self) -> Settings:
        data_dir = self.data_dir.absolute()
        remote = bool(self.landing) and is_remote(self.landing)
        landing = Path(self.landing if self.landing and not remote else data_dir / "landing")
        curated_remote = bool(self.curated) and is_remote(self.curated)
        curated = Path(self.curated if self.curated and not curated_remote
                       else data_dir / "curated")
        return Settings(
            data_dir=data_dir,
            landing=landing.absolute(),
            landing_uri=self.landing if remote else None,
            warehouse=(self.warehouse or data_dir / "warehouse.duckdb").absolute(),
            curated=curated.absolute(),
            curated_uri=self.curated if curated_remote else None,
            exports=(self.exports or data_dir / "exports").absolute(),
            timezone=self.timezone,
            partition_start=self.partition_start.isoformat(),
            record_errors=self.record_errors,
            future_skew=timedelta(hours=self.future_skew_hours),
            quarantine_rate_max=self.quarantine_rate_max,
            config_file=self.config_file.absolute(),
            scan_workers=self.scan_workers,
            read_steps=self.read_steps,
            summary_steps=self.summary_steps,
            fold_steps=self.fold_steps,
            index_rows_per_fold=self.index_rows_per_fold,
            duckdb_memory_limit=self.duckdb_memory_limit,
        )

    def funding(self) -> FundingConfig:
        start = self.stripe_sync_start
        return FundingConfig(
            credits_per_minor=parse_rates(self.credits_per_minor_unit),
            lookback=timedelta(seconds=self.stripe_sync_lookback_s),
            stale_pending_after=timedelta(hours=self.stale_pending_hours),
            sync_start=parse_sync_start(start) if start else None,
        )

    def dagster_home_path(self) -> Path:
        return (self.dagster_home or self.data_dir / "dagster").absolute()

    def stripe_key(self) -> str | None:
        return self.stripe_secret_key.get_secret_value() if self.stripe_secret_key else None

    def s3_options(self) -> dict[str, object]:
        """Keyword arguments of `pyarrow.fs.S3FileSystem` (unset ones left to pyarrow)."""
        secret = self.aws_secret_access_key
        return s3_options_from_env({
            "AWS_ENDPOINT_URL": self.aws_endpoint_url or "",
            "AWS_REGION": self.aws_region or "",
            "AWS_ACCESS_KEY_ID": self.aws_access_key_id or "",
            "AWS_SECRET_ACCESS_KEY": secret.get_secret_value() if secret else "",
        })


def _one_line(exc: ValidationError) -> BadSetting:
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else "environment"
    shown = "" if _is_secret(_field_of(name)) else f"={error.get('input')!r}"
    problem = " ".join(error["msg"].removeprefix("Value error, ").split())
    if problem.startswith(f"{name}="):  # the parser already named the variable (the clock)
        return BadSetting(problem)
    return BadSetting(f"{name}{shown}: {problem}")


def _field_of(alias: str) -> str:
    return next((name for name, info in Environment.model_fields.items()
                 if info.validation_alias == alias), alias)


def _is_secret(field_name: str) -> bool:
    info = Environment.model_fields.get(field_name)
    return info is not None and "SecretStr" in str(info.annotation)


def variables() -> list[tuple[str, str, str, bool]]:
    """(variable, default as shown, description, secret) for every declared variable."""
    rows = []
    for name, info in Environment.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        default = extra.get("shown_default")
        if default is None:
            default = "unset" if info.default is None else _show(info.default)
        rows.append((str(info.validation_alias), str(default), info.description or "",
                     _is_secret(name)))
    return rows


def effective() -> list[tuple[str, str, str]]:
    """(variable, value, source) as this process sees them: paths resolved, secrets only
    `(set, hidden)` or `unset`."""
    env = Environment.load()
    resolved = env.settings()
    paths = {"data_dir": resolved.data_dir,
             "landing": resolved.landing_uri or resolved.landing,
             "warehouse": resolved.warehouse,
             "curated": resolved.curated_uri or resolved.curated,
             "exports": resolved.exports, "config_file": resolved.config_file,
             "dagster_home": env.dagster_home_path()}
    rows = []
    for (name, default, _, secret), field_name in zip(variables(), Environment.model_fields,
                                                      strict=True):
        value = paths.get(field_name, getattr(env, field_name))
        if secret:
            shown = "(set, hidden)" if value is not None else "unset"
        elif value is None:
            shown = default
        else:
            shown = _show(value)
        rows.append((name, shown, "env" if field_name in env.model_fields_set else "default"))
    return rows


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_DECLARED = {str(info.validation_alias) for info in Environment.model_fields.values()}


def raw(name: str) -> str | None:
    """One declared variable's text, unparsed, for hot paths (the clock asks on every call);
    None when unset or empty."""
    if name not in _DECLARED:
        raise KeyError(f"{name} is not declared in usage_model.config.Environment")
    return os.environ.get(name) or None


def named_secret(name: str) -> SecretStr | None:
    """A secret whose variable NAME is itself configuration (a webhook export's
    `secret_env` in city-usage.yaml); None when unset or empty."""
    value = os.environ.get(name)
    return SecretStr(value) if value else None


@contextmanager
def environment_set(name: str, value: str) -> Iterator[None]:
    """Set a declared variable inside the block, for this process and the processes it starts."""
    raw(name)  # declared?
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def adopt(values: dict[str, str | None]) -> None:
    """Set (None: unset) declared variables for the rest of this process: a worker process
    taking its parent's values (see usage/file_scan.py)."""
    for name, value in values.items():
        raw(name)  # declared?
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def export_dagster_home(home: Path) -> None:
    """Point DAGSTER_HOME at `home` for this process (Dagster reads it itself)."""
    os.environ["DAGSTER_HOME"] = str(home)


@dataclass(frozen=True)
class Settings:
    """Paths and rules, resolved: what the domain code needs (no secrets)."""

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
    scan_workers: int = 1
    read_steps: int = 0  # 0: no read steps, the warehouse step reads (embedded default)
    summary_steps: int = 0  # 0: the summary commit step computes every day (embedded default)
    fold_steps: bool = False  # off: the warehouse step folds the index itself (embedded default)
    # Rows one fold of the index update holds at once; None: id_index.ROWS_PER_WRITE.
    index_rows_per_fold: int | None = None
    # DuckDB memory_limit of the steps' own in-memory DuckDBs too (warehouse.scratch_connection).
    duckdb_memory_limit: str | None = None
    # CITY_USAGE_LANDING as given when it is an object-store prefix (`s3://bucket/prefix`):
    # usage files are then read from `<it>/usage`, Downcity's balance exports from
    # `<it>/balance` and Stripe webhook events from `<it>/stripe/events`.
    landing_uri: str | None = None
    # CITY_USAGE_CURATED as given when it is an object-store prefix: curated events are then
    # written to and read from `<it>/events`, the id index to `<it>/_index` (shared_work_location)
    # and the rest of the build's working state to `work_root`.
    curated_uri: str | None = None

    @property
    def usage_landing(self) -> Path:
        return self.landing / "usage"

    def usage_landing_location(self) -> Location:
        """Where usage files land, as a local folder or an `s3://` prefix."""
        return self._landing_location("usage")

    def _landing_location(self, sub: str) -> Location:
        """`<landing>/<sub>`: a local folder or, when CITY_USAGE_LANDING is an `s3://` prefix,
        under it."""
        if self.landing_uri:
            return location(f"{self.landing_uri.rstrip('/')}/{sub}", self.s3_options())
        return location(self.landing / sub)

    def s3_options(self) -> dict[str, object]:
        """`pyarrow.fs.S3FileSystem` arguments from the standard AWS variables."""
        return Environment.load().s3_options()

    @property
    def balance_landing(self) -> Path:
        """The local folder of the balance landing (`balance_landing_location` on S3)."""
        return self.landing / "balance"

    def balance_landing_location(self) -> Location:
        """Where Downcity's balance exports land: `<landing>/balance`, a local folder or,
        when CITY_USAGE_LANDING is an `s3://` prefix, under it."""
        return self._landing_location("balance")

    def stripe_events_location(self) -> Location:
        """Where the Stripe webhook receiver lands events: `<landing>/stripe/events`, a local
        folder or, when CITY_USAGE_LANDING is an `s3://` prefix, under it."""
        return self._landing_location("stripe/events")

    @property
    def report_path(self) -> Path:
        """Where the usage_report asset writes the HTML report."""
        return self.data_dir / "report.html"

    def curated_location(self) -> Location:
        """The curated root, as a local folder or an `s3://` prefix."""
        if self.curated_uri:
            return location(self.curated_uri, self.s3_options())
        return location(self.curated)

    def events_location(self) -> Location:
        """Curated events: one folder per day, `events/day=YYYY-MM-DD/part-0.parquet`."""
        return self.curated_location().child("events")

    @property
    def events_root(self) -> Path:
        """The local folder of `events_location()`; an error when curated is on S3."""
        if self.curated_uri:
            raise ValueError(f"curated events are at {self.curated_uri}, not in a local folder")
        return self.curated / "events"

    @property
    def work_root(self) -> Path:
        """The build's working state (scanned rows, id index, staging): beside the curated
        events when they are local (a staged day file is renamed into place), else a local
        folder of the host that runs the build (the warehouse host)."""
        return self.data_dir / "work" if self.curated_uri else self.curated

    def shared_work_location(self) -> Location:
        """The working state every worker reads and writes (the id index and its update's
        staged rows): the work root when curated is local, else the curated prefix, since
        the index update's folds run on any worker, with no folder shared with the
        warehouse host."""
        return self.curated_location() if self.curated_uri else location(self.work_root)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls) -> Settings:
        return Environment.load().settings()
