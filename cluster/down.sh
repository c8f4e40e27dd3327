#!/usr/bin/env bash
# Stop exactly what cluster/up.sh started: each recorded process group (by its PID), the
# daemon and the workers first so no step is left holding the warehouse, then the servers.
# PostgreSQL is stopped with pg_ctl as the user it runs as; state under
# $CITY_USAGE_DATA_DIR/cluster stays.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLUSTER_DIR="$(realpath -m "${CLUSTER_DIR:-$REPO/.cluster}")"
PG_BIN="${CLUSTER_PG_BIN:-/usr/lib/postgresql/15/bin}"
PIDS="$CLUSTER_DIR/pids"
[ -s "$PIDS" ] || { echo "cluster-down: nothing recorded in $PIDS"; exit 0; }

WHO=cluster-down
# shellcheck source=cluster/lib.sh
source "$REPO/cluster/lib.sh"

# The daemon and the workers first, then Redis and S3, then Postgres (they all write their
# heartbeats and events there).
for pass in daemon worker- redis s3; do
  while read -r name pid _; do
    [[ "$name" == "$pass"* ]] && stop_group "$name" "$pid"
  done < "$PIDS"
done
while read -r name pid pg_data; do
  [ "$name" = postgres ] || continue
  alive "$pid" || continue
  AS_PG=()
  [ "$(id -u)" = 0 ] && AS_PG=(runuser -u postgres --)
  "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$pg_data" -m fast -w -t 60 stop >/dev/null 2>&1 \
    || kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 150); do alive "$pid" || break; sleep 0.2; done
done < "$PIDS"

left=""
while read -r name pid _; do alive "$pid" && left="$left $name($pid)"; done < "$PIDS"
[ -z "$left" ] || { echo "cluster-down: still running:$left" >&2; exit 1; }
rm -f "$PIDS"
echo "cluster stopped"
