#!/usr/bin/env bash
# Start the cluster's dagster-daemon, replacing the one recorded in $CLUSTER_DIR/pids if any
# (cluster/up.sh runs it last; run it alone to switch CLUSTER_AUTOMATION on a running
# cluster). As the same user as the workers, with the cluster's environment ($CLUSTER_DIR/env).
#
# Its run monitoring (cluster/dagster.yaml) fails runs left unfinished past their limits and
# gives back the pool slots of runs that ended. With CLUSTER_AUTOMATION=on it also runs the
# code location's sensors and schedules (the landing sensor, the daily schedule; all start
# RUNNING): it loads `pipelines.distributed`, whose jobs all run on the Celery executor, so
# the runs they launch orchestrate from this host and execute their steps on the workers.
# Off (the default) it loads no code location: monitoring only, no sensor or schedule
# launches a run, so runs are the ones `city-usage` launches (a sensor's run started beside
# them would redo their work and hold the warehouse while `city-usage summary` wants to read).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLUSTER_DIR="$(realpath -m "${CLUSTER_DIR:-$REPO/.cluster}")"
PIDS="$CLUSTER_DIR/pids"
WHO=cluster-daemon
# shellcheck source=cluster/lib.sh
source "$REPO/cluster/lib.sh"
[ -s "$CLUSTER_DIR/env" ] || fail "no cluster environment in $CLUSTER_DIR/env (make cluster-up first)"
# shellcheck disable=SC1091
source "$CLUSTER_DIR/env"  # DAGSTER_HOME, the Postgres URL, PATH with the project's Python
LOGS="$CITY_USAGE_DATA_DIR/cluster/logs"

while read -r name pid _; do
  if [ "$name" = daemon ]; then stop_group "$name" "$pid"; fi
done < "$PIDS"
sed -i '/^daemon /d' "$PIDS"

if [[ "${CLUSTER_AUTOMATION:-off}" == "on" ]]; then
  location=(-m pipelines.distributed -a defs -d "$REPO")
else
  location=(--empty-workspace)
fi
cd "$REPO"
setsid dagster-daemon run "${location[@]}" --log-level info \
  >> "$LOGS/daemon.log" 2>&1 < /dev/null &
record daemon $!
# Ready once every daemon the instance requires has written a heartbeat to PostgreSQL.
wait_for "the dagster-daemon" 120 dagster-daemon liveness-check
echo "dagster-daemon running (automation ${CLUSTER_AUTOMATION:-off})"
