#!/usr/bin/env bash
# Past one database (issue 20, docs/deploy.md): what one PostgreSQL database's single audit chain
# costs when several writers share it, against the same writers each on a database of its own
# (partitioning by domain). Storage commits only (bench-storage-sqlite through storage-postgres.so:
# batches of 1000 decisions, each with its audit record, 30 % with a task), on the tests'
# throw-away server (tests/support/pg-test-server.sh: loopback, fsync=off) on this machine.
# Figures, not pass/fail; not part of `make test` or ctest.
#   tests/bench/partition.sh [BUILD_DIR]     (default build; DECISIONS per writer, 100000; WRITERS, 3)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-build}" && pwd)
: "${DECISIONS:=100000}" "${WRITERS:=3}"
bench="$build/bin/bench-storage-sqlite"
plugin="$build/lib/hitl/storage-postgres.so"
[ -x "$bench" ] && [ -f "$plugin" ] || { echo "build bench-storage-sqlite and storage-postgres in $build first"; exit 1; }
work=$(mktemp -d /tmp/hitl-partition.XXXXXX)
chmod 755 "$work"
source "$here/tests/bench/pg-lib.sh"
trap 'pg_stop; rm -rf "$work"' EXIT
pg_start
# An empty database with a name of its own (called in $(...): no counter survives the subshell).
new_db() {
  local name="part_$(date +%s%N)"
  psql -q "$server_url" -c "CREATE DATABASE $name" >/dev/null
  echo "${server_url%/*}/$name"
}

# run WRITERS SHARED: WRITERS processes at once, all on one new database (SHARED=1) or each on its
# own; prints the decisions per second of all of them together over the wall time of the slowest.
run() {
  local writers=$1 shared=$2 url pids=() t0 t1
  url=$(new_db)
  t0=$(date +%s%N)
  for w in $(seq 1 "$writers"); do
    [ "$shared" = 1 ] || url=$(new_db)
    HITL_BENCH_PG_URL="$url" HITL_BENCH_ID_PREFIX="w$w-" "$bench" "$DECISIONS" 1000 normal "$plugin" > "$work/w$w.out" 2>&1 &
    pids+=($!)
  done
  sample_lock_waits "${pids[@]}" > "$work/waits.out" &
  local sampler=$!
  for p in "${pids[@]}"; do wait "$p" || { echo "a writer failed:"; cat "$work"/w*.out; exit 1; }; done
  t1=$(date +%s%N)
  wait "$sampler" || true
  echo "$(( writers * DECISIONS * 1000000000 / (t1 - t0) )) decisions/s; writers waiting on a lock, on average: $(cat "$work/waits.out")"
}

# While the writers run: every 50 ms, how many sessions wait on a lock (the chain's head row is the
# one lock they share); prints the mean over the samples.
sample_lock_waits() {
  local n=0 sum=0 waiting
  while kill -0 "$@" 2>/dev/null; do
    waiting=$(psql -qtA "$server_url" -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'" 2>/dev/null || echo 0)
    n=$((n + 1)); sum=$((sum + waiting))
    sleep 0.05
  done
  awk -v s="$sum" -v n="$n" 'BEGIN { printf "%.2f (%d samples)", n ? s / n : 0, n }'
}
echo "# partition bench: $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "all writers together ($DECISIONS decisions each, batches of 1000 with their audit records):"
echo "  1 writer, 1 database:                     $(run 1 1)"
echo "  $WRITERS writers, 1 database (one chain):        $(run "$WRITERS" 1)"
echo "  $WRITERS writers, $WRITERS databases (by domain):       $(run "$WRITERS" 0)"
echo "(load average after: $(cut -d' ' -f1-3 /proc/loadavg))"
