"""Metadata that counts rows counts the rows of the table it describes."""

from __future__ import annotations

import dagster as dg
import duckdb

from assets.funding import definitions as funding_defs
from pipelines.resources import build_resources
from tests.balance_landing import write_topups


def test_reconciliation_report_row_count_is_the_whole_table(settings, dagster_instance):
    write_topups(settings, [
        {"topup_id": "t1", "user_id": "u1", "amount": 1_000_000},
        {"topup_id": "t2", "user_id": "u2", "amount": 2_000_000, "status": "paid"},
        {"topup_id": "t3", "user_id": "u3", "amount": 3_000_000, "status": "cancelled"},
    ])
    defs = funding_defs.definitions()
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    result = dg.materialize([*assets, *defs.asset_checks], instance=dagster_instance,
                            resources={**build_resources(), **defs.resources})
    assert result.success
    metadata = {m.asset_key.to_user_string(): m.metadata
                for m in result.get_asset_materialization_events()
                for m in [m.event_specific_data.materialization]}
    with duckdb.connect(str(settings.warehouse), read_only=True) as conn:
        rows, not_ok = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE verdict <> 'ok') FROM reconciliation_report"
        ).fetchone()
    assert rows == 3 and not_ok >= 1
    assert metadata["reconciliation_report"]["dagster/row_count"].value == rows
