"""A run for the daemon test, launched the way `city-usage` launches one (in this process,
`execute_in_process` on the instance of DAGSTER_HOME, tagged with this process's id and host
as pipelines/launch.py tags its runs): its one step holds a slot of the pool `PROBE_POOL`,
creates the marker file named on the command line and then waits to be killed.

`python -m tests.distributed.killed_run_probe <marker> [<host>]`: with a host, the run is
tagged as a process of that other host whose last heartbeat is long past (a CLI process on
another machine that died), which the daemon can only tell from that tag.
"""

import sys
import time
from pathlib import Path

import dagster as dg

from pipelines.launch import ALIVE_TAG, HOST_TAG, process_tags

PROBE_POOL = "monitoring_probe"


@dg.op(pool=PROBE_POOL, config_schema={"marker": str})
def hold_a_slot(context: dg.OpExecutionContext) -> None:
    Path(context.op_config["marker"]).write_text(context.run_id)
    time.sleep(3600)  # until SIGKILLed


@dg.job
def killed_run_probe() -> None:
    hold_a_slot()


SILENT_FOR_S = 10_000  # the other host's process last reported this long ago


def main(marker: str, host: str | None = None) -> None:
    tags = process_tags()
    if host is not None:
        tags |= {HOST_TAG: host, ALIVE_TAG: str(int(time.time()) - SILENT_FOR_S)}
    with dg.DagsterInstance.get() as instance:
        killed_run_probe.execute_in_process(
            instance=instance, tags=tags,
            run_config={"ops": {"hold_a_slot": {"config": {"marker": marker}}}},
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
