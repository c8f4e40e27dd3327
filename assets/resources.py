"""Resource types the assets ask for. Instances are built by `pipelines.resources`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import ClassVar, get_args, get_origin

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import TypeAdapter, ValidationError

from usage_model.config import Environment, Settings
from usage_model.funding.config import FundingConfig
from usage_model.storage import Location
from usage_model.usage.file_reads import STEP_OUTPUTS, ReadTask, exchange_location
from usage_model.usage.stored_scan import first_problem
from usage_model.usage.summary_exchange import DayTask
from usage_model.warehouse import connect_waiting, ensure_schema


class CityUsageSettings(dg.ConfigurableResource):
    """The project's configuration as assets see it: `usage_model.config.Environment`, read
    when a run asks (so a changed environment needs no new code-location process)."""

    def environment(self) -> Environment:
        return Environment.load()

    def get(self) -> Settings:
        return self.environment().settings()

    def funding(self) -> FundingConfig:
        return self.environment().funding()


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


READS_IO_MANAGER = "reads_io_manager"
SUMMARY_DAYS_IO_MANAGER = "summary_days_io_manager"


@cache
def _adapter(kind: type) -> TypeAdapter:
    return TypeAdapter(kind)


def _same_type(one: object, other: object) -> bool:
    """`list[X]` and Dagster's `typing.List[X]` alike."""
    return (get_origin(one) or one, get_args(one)) == (get_origin(other) or other,
                                                       get_args(other))


class ExchangeIOManager(dg.ConfigurableIOManager):
    """Outputs of steps that hand work to other steps (plain values: paths, sizes, times,
    days, counts; no secret), as JSON where every worker reaches them: under
    `<exchange location>/<run id>/_steps/` (see usage_model/usage/file_reads.py), written
    atomically. A worker's local disk would not do: the next step may run on another host.
    Never pickle: anyone who can write that bucket could run code in the loading step.
    Loaded strictly (numbers and strings as written, dates as ISO strings) as the type the
    output declares.

    A stored list of the subclass's `lenient` type (work items the consuming step also does
    itself for anything they do not name) that does not validate is logged in one line
    naming the key and loaded as empty, so nothing is lost (`instead` says who does the
    work). Any other stored value that does not validate fails the loading step, naming it."""

    lenient: ClassVar[object]
    instead: ClassVar[str]

    def _path(self, context: dg.OutputContext) -> tuple[Location, str]:
        where = exchange_location(Environment.load().settings())
        run_id, *step = context.get_identifier()
        return where, where.path(run_id, STEP_OUTPUTS, *step)

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        where, path = self._path(context)
        where.write_bytes(path, _adapter(context.dagster_type.typing_type).dump_json(obj))

    def load_input(self, context: dg.InputContext) -> object:
        upstream = context.upstream_output
        where, path = self._path(upstream)
        text = where.read_bytes(path)
        kind = upstream.dagster_type.typing_type
        try:
            return _adapter(kind).validate_json(text, strict=True)
        except ValidationError as exc:
            if not _same_type(kind, self.lenient):
                raise ValueError(f"{path}: {first_problem(exc)}") from None
            context.log.warning(f"{path}: {first_problem(exc)}; ignored, {self.instead}")
            return []


class ReadsIOManager(ExchangeIOManager):
    """The ingestion's step outputs: the read steps' lists of `ReadTask`, the id index
    update's `FoldTask`s and `FoldResult`s, the scan's counts."""

    lenient: ClassVar[object] = list[ReadTask]
    instead: ClassVar[str] = "the warehouse step reads those files itself"


class SummaryDaysIOManager(ExchangeIOManager):
    """The daily summaries' plan and compute steps' outputs (lists of `DayTask`)."""

    lenient: ClassVar[object] = list[DayTask]
    instead: ClassVar[str] = "the commit step computes those days itself"
