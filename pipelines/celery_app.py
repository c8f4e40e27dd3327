"""The Celery app the distributed-mode workers run (`celery -A pipelines.celery_app worker`)
and the orchestrating `city-usage` process talks to: dagster-celery's step task on the broker
of `.cluster/env`, with crash-safe settings (see docs/scale.md).

Also a small command line for cluster/up.sh: `python -m pipelines.celery_app create-bucket
NAME` and `python -m pipelines.celery_app ping NODE...` (exit 0 once every node answers).
Kept light on import: the code location is loaded by the worker at start (`include`), not
by the helpers.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterable
from typing import Any

from usage_model.config import raw

# Celery configures a worker's app when it imports this module (`celery -A
# pipelines.celery_app worker`): the one place configuration is read at import, by design.
BROKER_ENV = "CITY_USAGE_CELERY_BROKER"
BACKEND_ENV = "CITY_USAGE_CELERY_BACKEND"
# Longer than any step may take: Redis redelivers a task whose worker vanished (without
# acknowledging it) only after this many seconds.
VISIBILITY_TIMEOUT_S = int(raw("CITY_USAGE_CELERY_VISIBILITY_TIMEOUT_S") or 6 * 3600)

# Crash safety: a task is acknowledged only after its step finished, and requeued when the
# worker process running it dies; a worker takes one task at a time, so nothing waits
# behind a long step on a busy worker.
CELERY_SETTINGS: dict[str, Any] = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "broker_transport_options": {
        "visibility_timeout": VISIBILITY_TIMEOUT_S,
        "max_retries": 3,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.5,
    },
    "result_backend_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_S},
    "result_expires": 7 * 24 * 3600,
    "worker_hijack_root_logger": False,
}



def celery_app_args() -> dict[str, Any]:
    """`dagster_celery.make_app` arguments: the same broker and settings as the executor."""
    from dagster_celery.executor import CeleryExecutor

    broker = raw(BROKER_ENV)
    if not broker:
        raise RuntimeError(f"{BROKER_ENV} is not set (source .cluster/env)")
    # `include`: a worker imports the code location once at start, before its pool forks,
    # instead of in the first step it runs.
    return CeleryExecutor.for_cli(
        broker=broker, backend=raw(BACKEND_ENV) or broker, config_source=CELERY_SETTINGS,
        include=["pipelines.distributed"],
    ).app_args()


def _make_app():
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    celery = make_app(celery_app_args())
    return celery, create_task(celery)


if raw(BROKER_ENV):  # the workers' app; a bare import (the CLI helpers) needs none
    app, execute_plan = _make_app()


def create_bucket(name: str) -> None:
    """Create the bucket on the S3 endpoint of the standard AWS variables (idempotent)."""
    import pyarrow.fs as pafs

    from usage_model.config import Environment

    fs = pafs.S3FileSystem(**Environment.load().s3_options(), allow_bucket_creation=True)
    if fs.get_file_info(name).type == pafs.FileType.NotFound:
        fs.create_dir(name)


def ping(nodes: Iterable[str]) -> bool:
    """Whether every named worker node (`w1` means `w1@<this host>`) answers."""
    wanted = {n if "@" in n else f"{n}@{socket.gethostname()}" for n in nodes}
    replies = app.control.ping(timeout=1.0) or []
    answered = {name for reply in replies for name in reply}
    return wanted <= answered


def main(argv: list[str]) -> int:
    command, *args = argv
    if command == "create-bucket" and len(args) == 1:
        create_bucket(args[0])
        return 0
    if command == "ping" and args:
        return 0 if ping(args) else 1
    print("usage: python -m pipelines.celery_app create-bucket NAME | ping NODE...",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
