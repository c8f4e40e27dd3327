# Shared by cluster/up.sh, down.sh and daemon.sh (sourced; set WHO first: the prefix of
# their messages). Every started process is a line "name pid [postgres data folder]" in
# $PIDS, each the leader of its own process group.

fail() { echo "$WHO: $*" >&2; exit 1; }
record() { echo "$*" >> "$PIDS"; }
alive() { kill -0 "$1" 2>/dev/null; }

wait_for() {  # wait_for <what> <seconds> <command...>
  local what="$1" limit="$2"; shift 2
  for _ in $(seq $((limit * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  fail "$what did not become ready within ${limit}s (logs in $LOGS)"
}

stop_group() {  # stop_group <name> <pid>: TERM the group, KILL it after 30 s
  local name="$1" pid="$2"
  alive "$pid" || return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 150); do alive "$pid" || return 0; sleep 0.2; done
  echo "$WHO: $name ($pid) ignored TERM; killing it" >&2
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
}
