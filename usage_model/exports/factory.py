"""Build the sink for a configured export, from the environment at run time."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from usage_model.config import Settings
from usage_model.exports.runner import DiffBuilder
from usage_model.exports.sinks import Sink
from usage_model.exports.sinks.files import FilesSink
from usage_model.exports.sinks.python_hook import PythonSink
from usage_model.exports.sinks.webhook import WebhookSink
from usage_model.hooks.config import (
    ExportConfig,
    FilesExport,
    PythonExport,
    StripeMeterExport,
    WebhookExport,
)


@dataclass(frozen=True)
class SinkSetup:
    sink: Sink | None             # None: not configured (e.g. no Stripe key); nothing is sent
    diff: DiffBuilder | None = None
    reason: str | None = None


def make_sink(export: ExportConfig, settings: Settings, conn: duckdb.DuckDBPyConnection
              ) -> SinkSetup:
    if isinstance(export, FilesExport):
        return SinkSetup(FilesSink(settings.exports, export.format))
    if isinstance(export, WebhookExport):
        return SinkSetup(WebhookSink(export.url, export.secret_env, timeout_s=export.timeout_s,
                                     max_attempts=export.max_attempts))
    if isinstance(export, PythonExport):
        return SinkSetup(PythonSink(export.function, export.hook))
    if isinstance(export, StripeMeterExport):
        from usage_model.exports.sinks import stripe_meter

        return stripe_meter.setup(export, settings, conn)
    raise ValueError(f"unknown sink {export.sink!r}")
