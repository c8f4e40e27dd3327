"""The one shape of a step that fans out across workers: a graph-backed multi-asset of a plan
step (its shares as dynamic outputs), one mapped step per share, and a commit step that takes
every share's result and yields the assets and their checks. In distributed mode the mapped
steps run on any Celery worker; the plan and commit steps carry the warehouse's pool and
queue when they open it (their own op definitions say so)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import dagster as dg


def fanned_out_asset(
    *,
    name: str,
    upstream: dg.AssetKey,
    specs: Mapping[str, dg.AssetSpec],
    check_specs: Sequence[dg.AssetCheckSpec],
    partitions_def: dg.PartitionsDefinition,
    plan: dg.OpDefinition,
    step: dg.OpDefinition,
    commit: dg.OpDefinition,
    io_managers: Mapping[str, dg.IOManagerDefinition],
    can_subset: bool = False,
) -> dg.AssetsDefinition:
    """`plan(upstream)` → `step` per share → `commit(results)`, one run per backfill. The
    assets are `specs` by output name (their own deps replaced by `upstream`); with
    `can_subset`, their outputs are optional and `commit` yields only the selected ones."""

    def compose(upstream):
        return commit(plan(upstream).map(step).collect())._asdict()

    with warnings.catch_warnings():
        # `resource_defs` (the asset's own IO managers) is a beta parameter of graph assets.
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.graph_multi_asset(
            name=name,
            outs={out: dg.AssetOut.from_spec(spec.replace_attributes(deps=[]),
                                             dagster_type=dg.Nothing,
                                             is_required=not can_subset)
                  for out, spec in specs.items()},
            ins={"upstream": dg.AssetIn(key=upstream, dagster_type=dg.Nothing)},
            check_specs=list(check_specs),
            group_name=next(iter(specs.values())).group_name,
            partitions_def=partitions_def,
            backfill_policy=dg.BackfillPolicy.single_run(),
            can_subset=can_subset,
            resource_defs=dict(io_managers),
        )(compose)
