"""The days `city-usage materialize` builds when given none: the span of the landed files'
days, from the manifest for files it knows unchanged and from the time column otherwise."""

from __future__ import annotations

from datetime import date, timedelta

from tests.usage.helpers_landing import T0, ingest, land, valid_row
from usage_model.config import Settings
from usage_model.usage.day_span import landed_day_span
from usage_model.warehouse import connect

D0 = T0.date()


def _on(day_offset: int, event_id: str) -> dict:
    return valid_row(event_id, occurred_at=T0 + timedelta(days=day_offset))


def test_the_span_comes_from_the_files_time_columns_before_any_scan(settings: Settings):
    assert landed_day_span(settings) is None
    land(settings, "dt=a/part-0.parquet", [_on(0, "e1"), _on(2, "e2")])
    land(settings, "dt=b/part-0.parquet", [_on(-1, "e3")])
    assert landed_day_span(settings) == (D0 - timedelta(days=1), D0 + timedelta(days=2))


def test_a_known_unchanged_file_gives_its_recorded_days_and_a_new_one_is_read(
    settings: Settings,
):
    land(settings, "dt=a/part-0.parquet", [_on(0, "e1"), _on(1, "e2")])
    ingest(settings)
    # What the manifest recorded is what counts for a file it knows unchanged: moved here to
    # days the file does not hold, only the manifest can be their source.
    with connect(settings.warehouse) as conn:
        conn.execute("UPDATE usage_files SET min_day = DATE '2020-01-01', "
                     "max_day = DATE '2020-01-03'")
    assert landed_day_span(settings) == (date(2020, 1, 1), date(2020, 1, 3))

    land(settings, "dt=b/part-0.parquet", [_on(5, "e3")])  # new: its time column is read
    assert landed_day_span(settings) == (date(2020, 1, 1), D0 + timedelta(days=5))

    land(settings, "dt=a/part-0.parquet", [_on(3, "e1")])  # rewritten: read again
    assert landed_day_span(settings) == (D0 + timedelta(days=3), D0 + timedelta(days=5))


def test_a_file_with_no_valid_row_contributes_the_days_of_its_time_column_until_scanned(
    settings: Settings,
):
    land(settings, "dt=a/part-0.parquet", [_on(0, "e1")])
    land(settings, "dt=b/part-0.parquet", [valid_row("e2", occurred_at=T0 + timedelta(days=1),
                                                     input_tokens=-5)])
    assert landed_day_span(settings) == (D0, D0 + timedelta(days=1))
    ingest(settings)  # its one row is quarantined: it touches no day of curated events
    assert landed_day_span(settings) == (D0, D0)
