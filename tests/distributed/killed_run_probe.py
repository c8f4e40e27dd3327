"""A run for the daemon test, launched the way `city-usage` launches one (in this process,
`execute_in_process` on the instance of DAGSTER_HOME, tagged with this process's id and host
as pipelines/launch.py tags its runs): its one step holds a slot of the pool `PROBE_POOL`,
creates the marker file named on the command line and then waits to be killed.

`python -m tests.distributed.killed_run_probe <marker>`
"""

import sys
import time
from pathlib import Path

import dagster as dg

from pipelines.launch import process_tags

PROBE_POOL = "monitoring_probe"


@dg.op(pool=PROBE_POOL, config_schema={"marker": str})
def hold_a_slot(context: dg.OpExecutionContext) -> None:
    Path(context.op_config["marker"]).write_text(context.run_id)
    time.sleep(3600)  # until SIGKILLed


@dg.job
def killed_run_probe() -> None:
    hold_a_slot()


def main(marker: str) -> None:
    with dg.DagsterInstance.get() as instance:
        killed_run_probe.execute_in_process(
            instance=instance, tags=process_tags(),
            run_config={"ops": {"hold_a_slot": {"config": {"marker": marker}}}},
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
