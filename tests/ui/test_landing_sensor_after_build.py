"""Starting the daemon after `make demo` rebuilds nothing the demo built: the landing sensor
skips files the manifest already records as they are, and still sees a new one."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from assets.usage import definitions as usage_defs
from tests.dagster_runs import materialize_days
from usage_model.usage.sample import write_sample_landing

END = date(2026, 5, 18)
START = date(2026, 5, 17)


def _tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    return usage_defs.usage_landing_sensor(dg.build_sensor_context(instance=instance,
                                                                   cursor=cursor))


def test_a_fresh_sensor_skips_what_a_run_already_built(settings, dagster_instance):
    write_sample_landing(settings.usage_landing, days=2, events_per_day=40, end=END)
    assert _tick(dagster_instance, None).run_requests  # nothing built yet: it asks
    assert materialize_days(settings, dagster_instance, START, END).success

    first = _tick(dagster_instance, None)  # a daemon started after the build
    assert first.run_requests == []
    assert "already built" in first.skip_reason.skip_message
    assert first.cursor and int(first.cursor) > 0

    late = pa.table({"event_id": ["late-1"], "occurred_at": [f"{END}T12:00:00Z"],
                     "city_id": ["city-late"], "status": ["success"]})
    pq.write_table(late, settings.usage_landing / "late.parquet")
    second = _tick(dagster_instance, first.cursor)
    assert [r.partition_key for r in second.run_requests
            if r.job_name == usage_defs.usage_daily_job.name] == [END.isoformat()]
