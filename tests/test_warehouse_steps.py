"""Every step that opens the DuckDB warehouse runs where the warehouse file is: in the
one-writer pool and, in distributed mode, on the `warehouse` Celery queue (served only by the
worker on the warehouse host). A step missing the tag would run on any worker, where the
file is absent or is another host's copy."""

from __future__ import annotations

import dagster as dg

from pipelines.definitions import defs
from usage_model.warehouse import POOL, WRITER_OP_TAGS


def _ops(node_def: dg.NodeDefinition) -> list[dg.OpDefinition]:
    if isinstance(node_def, dg.GraphDefinition):
        return list(node_def.iterate_op_defs())
    return [node_def]


def _steps_holding_the_warehouse() -> dict[str, dg.OpDefinition]:
    graph = defs.resolve_asset_graph()
    nodes = [a.node_def for a in graph.assets_defs if a.is_executable]
    nodes += [c.node_def for c in defs.asset_checks or []]
    return {op.name: op for node in nodes for op in _ops(node)
            if "duckdb" in op.required_resource_keys}


def test_every_step_that_opens_the_warehouse_is_queued_with_the_writers():
    steps = _steps_holding_the_warehouse()
    # (the ingestion's three warehouse ops, and the funding checks: op names are asset_check)
    assert {"record_scans", "commit_and_build", "plan_reads", "balances_balances_match_ledger",
            "reconciliation_exceptions_no_open_exceptions"} <= set(steps)
    untagged = sorted(name for name, op in steps.items()
                      if op.tags.get("dagster-celery/queue") != WRITER_OP_TAGS[
                          "dagster-celery/queue"] or op.pool != POOL)
    assert not untagged, f"steps opening the warehouse outside its queue/pool: {untagged}"


def test_read_and_fold_steps_do_not_hold_the_warehouse():
    assert not {"read_files", "fold_index_range"} & set(_steps_holding_the_warehouse())
