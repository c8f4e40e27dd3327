"""A run for the daemon test, launched the way `city-usage` launches one (in this process,
`execute_in_process` on the instance of DAGSTER_HOME): its one step holds a slot of the pool
`PROBE_POOL`, creates the marker file named on the command line and then waits to be killed.

`python -m tests.distributed.killed_run_probe <marker> <max runtime s>`
"""

import sys
import time
from pathlib import Path

import dagster as dg

PROBE_POOL = "monitoring_probe"
MAX_RUNTIME_TAG = "dagster/max_runtime"


@dg.op(pool=PROBE_POOL, config_schema={"marker": str})
def hold_a_slot(context: dg.OpExecutionContext) -> None:
    Path(context.op_config["marker"]).write_text(context.run_id)
    time.sleep(3600)  # until SIGKILLed


@dg.job
def killed_run_probe() -> None:
    hold_a_slot()


def main(marker: str, max_runtime_s: str) -> None:
    with dg.DagsterInstance.get() as instance:
        killed_run_probe.execute_in_process(
            instance=instance, tags={MAX_RUNTIME_TAG: max_runtime_s},
            run_config={"ops": {"hold_a_slot": {"config": {"marker": marker}}}},
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
