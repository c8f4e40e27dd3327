#!/usr/bin/env bash
# Start a distributed city-usage stack on 127.0.0.1 (see docs/scale.md): PostgreSQL for the
# Dagster instance, Redis as the Celery broker, moto's S3 server for the usage landing and the
# curated events, two Celery workers. All state lives under $CITY_USAGE_DATA_DIR/cluster;
# every started process is recorded in $CLUSTER_DIR/pids ("name pid" lines, a process group
# each) so down.sh stops exactly those. Writes $CLUSTER_DIR/env: `source` it to point city-usage at the stack.
#
# Settings (environment): CITY_USAGE_DATA_DIR (default ./data), CLUSTER_DIR (default
# ./.cluster), CLUSTER_BUCKET (default city-usage), CLUSTER_PG_PORT / CLUSTER_REDIS_PORT /
# CLUSTER_S3_PORT (default: free ports), CLUSTER_PYTHON (default ./.venv/bin/python),
# CLUSTER_AUTOMATION (default off: the daemon only monitors runs; on: it also runs the
# sensors and schedules, see cluster/daemon.sh).
# Started: PostgreSQL, Redis, moto, the workers, one dagster-daemon.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$(realpath -m "${CITY_USAGE_DATA_DIR:-$REPO/data}")"
CLUSTER_DIR="$(realpath -m "${CLUSTER_DIR:-$REPO/.cluster}")"
PY="$(realpath -ms "${CLUSTER_PYTHON:-$REPO/.venv/bin/python}")"
BIN="$(dirname "$PY")"
PG_BIN="${CLUSTER_PG_BIN:-/usr/lib/postgresql/15/bin}"
BUCKET="${CLUSTER_BUCKET:-city-usage}"
STATE="$DATA/cluster"
PIDS="$CLUSTER_DIR/pids"
LOGS="$STATE/logs"

WHO=cluster-up
# shellcheck source=cluster/lib.sh
source "$REPO/cluster/lib.sh"
[ -x "$PY" ] || fail "no Python at $PY (run make env first)"
[ -x "$PG_BIN/initdb" ] || fail "no PostgreSQL binaries in $PG_BIN"
command -v redis-server >/dev/null || fail "redis-server is not installed"
if [ -s "$PIDS" ]; then fail "a cluster is already recorded in $PIDS (make cluster-down first)"; fi

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PG_PORT="${CLUSTER_PG_PORT:-$(free_port)}"
REDIS_PORT="${CLUSTER_REDIS_PORT:-$(free_port)}"
S3_PORT="${CLUSTER_S3_PORT:-$(free_port)}"

mkdir -p "$CLUSTER_DIR" "$LOGS" "$STATE/redis" "$STATE/dagster"
: > "$PIDS"
# On any failure, stop what was already started.
trap 'echo "cluster-up: failed; stopping what was started" >&2; "$REPO/cluster/down.sh" >/dev/null 2>&1 || true' ERR


# --- PostgreSQL: initdb refuses root, so as root the server runs as `postgres` in its own
# subfolder (the data dir itself may be root-owned).
PG_DIR="$STATE/postgres"
mkdir -p "$PG_DIR"
AS_PG=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || fail "running as root needs a 'postgres' user for initdb"
  chown postgres: "$PG_DIR"
  AS_PG=(runuser -u postgres --)
  # The server must reach its folder through the data dir's parents (no permission is
  # changed above the folder it owns: a private parent is reported instead).
  runuser -u postgres -- test -w "$PG_DIR" \
    || fail "the postgres user cannot reach $PG_DIR (a parent folder is private): choose another CITY_USAGE_DATA_DIR"
fi
if [ ! -s "$PG_DIR/data/PG_VERSION" ]; then
  "${AS_PG[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U city_usage --auth=trust -E UTF8 \
    > "$LOGS/initdb.log" 2>&1 || fail "initdb failed (see $LOGS/initdb.log)"
fi
"${AS_PG[@]}" mkdir -p "$PG_DIR/run"
"${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 120 \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR/run -c max_connections=200" start \
  > "$LOGS/pg_ctl.log" 2>&1 || fail "PostgreSQL did not start (see $PG_DIR/postgres.log)"
record postgres "$(head -1 "$PG_DIR/data/postmaster.pid")" "$PG_DIR/data"
"$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U city_usage -d postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname = 'dagster'" | grep -q 1 \
  || "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U city_usage dagster

# --- Redis (broker and results), no persistence: queued work is re-submitted by the next run.
setsid redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$STATE/redis" \
  --save "" --appendonly no --protected-mode yes > "$LOGS/redis.log" 2>&1 < /dev/null &
record redis $!
wait_for Redis 30 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping

# --- S3: moto's server (in memory: a restart starts with an empty bucket).
setsid "$PY" -m moto.server -H 127.0.0.1 -p "$S3_PORT" > "$LOGS/s3.log" 2>&1 < /dev/null &
record s3 $!
wait_for "the S3 server" 60 "$PY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$S3_PORT/moto-api/')"

# --- The environment every process shares (city-usage, workers, tests).
cat > "$CLUSTER_DIR/env" <<EOF
# Written by cluster/up.sh: point city-usage at the local cluster. Source it (bash).
export PATH="$BIN:\$PATH"
export CITY_USAGE_DATA_DIR="$DATA"
export DAGSTER_HOME="$STATE/dagster"
export CITY_USAGE_LANDING="s3://$BUCKET/landing"
export CITY_USAGE_WAREHOUSE="$DATA/warehouse.duckdb"
export CITY_USAGE_CURATED="s3://$BUCKET/curated"
export CITY_USAGE_EXECUTOR="celery"
export CITY_USAGE_READ_STEPS="${CITY_USAGE_READ_STEPS:-2}"
export CITY_USAGE_SUMMARY_STEPS="${CITY_USAGE_SUMMARY_STEPS:-2}"
export CITY_USAGE_FOLD_STEPS="${CITY_USAGE_FOLD_STEPS:-true}"
export CITY_USAGE_INDEX_ROWS_PER_FOLD="${CITY_USAGE_INDEX_ROWS_PER_FOLD:-1000000}"
export CITY_USAGE_CELERY_BROKER="redis://127.0.0.1:$REDIS_PORT/0"
export CITY_USAGE_CELERY_BACKEND="redis://127.0.0.1:$REDIS_PORT/1"
export CITY_USAGE_PG_URL="postgresql+psycopg2://city_usage@127.0.0.1:$PG_PORT/dagster"
export AWS_ENDPOINT_URL="http://127.0.0.1:$S3_PORT"
export AWS_ACCESS_KEY_ID="cluster-local"
export AWS_SECRET_ACCESS_KEY="cluster-local"
export AWS_REGION="us-east-1"
export AWS_EC2_METADATA_DISABLED="true"
EOF
# shellcheck disable=SC1091
source "$CLUSTER_DIR/env"
cp "$REPO/cluster/dagster.yaml" "$DAGSTER_HOME/dagster.yaml"
"$PY" -m pipelines.celery_app create-bucket "$BUCKET"

# --- Celery workers with distinct node names. By default `w1` owns the DuckDB file and is the
# only one serving the warehouse queue, so every writer step runs there, one at a time
# (concurrency 1); between writers it also takes steps of the `dagster` queue (the ingestion's
# read steps, the other assets), which `w2` serves too; more such workers can join from any host.
cd "$REPO"
start_worker() {  # start_worker <node> <queues>
  setsid "$BIN/celery" -A pipelines.celery_app worker -n "$1@%h" -Q "$2" --concurrency 1 \
    --prefetch-multiplier 1 --without-gossip --without-mingle --loglevel INFO \
    > "$LOGS/worker-$1.log" 2>&1 < /dev/null &
  record "worker-$1" $!
}
WORKERS="${CLUSTER_WORKERS:-w1:warehouse,dagster w2:dagster}"
nodes=()
for spec in $WORKERS; do start_worker "${spec%%:*}" "${spec#*:}"; nodes+=("${spec%%:*}"); done
wait_for "the Celery workers" 120 "$PY" -m pipelines.celery_app ping "${nodes[@]}"

# --- The dagster-daemon: run monitoring, and the sensors and schedules with
# CLUSTER_AUTOMATION=on (cluster/daemon.sh).
"$REPO/cluster/daemon.sh" > /dev/null
trap - ERR
echo "cluster ready: source $CLUSTER_DIR/env (Postgres :$PG_PORT, Redis :$REDIS_PORT, S3 :$S3_PORT)"
