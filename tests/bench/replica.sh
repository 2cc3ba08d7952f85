#!/usr/bin/env bash
# Read replicas for reports (issue 20, docs/deploy.md "Past one database"): what a report's read
# of every decision in its window costs the writer when it runs on the primary, against the same
# read on a streaming replica, and how far the replica trails the writer meanwhile. The writer is
# storage commits only (bench-storage-sqlite through storage-postgres.so: batches of 1000
# decisions, each with its audit record, 30 % with a task) on the tests' throw-away server
# (tests/support/pg-test-server.sh: loopback, fsync=off), with a hot standby made from it by
# pg_basebackup, both on this machine. Figures, not pass/fail; not part of `make test` or ctest.
#   tests/bench/replica.sh [BUILD_DIR]     (default build; DECISIONS, 200000)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-build}" && pwd)
: "${DECISIONS:=200000}"
bench="$build/bin/bench-storage-sqlite"
plugin="$build/lib/hitl/storage-postgres.so"
[ -x "$bench" ] && [ -f "$plugin" ] || { echo "build bench-storage-sqlite and storage-postgres in $build first"; exit 1; }
work=$(mktemp -d /tmp/hitl-replica.XXXXXX)
chmod 755 "$work"
cleanup() {
  "$here/tests/support/pg-standby.sh" stop "$work/standby.state" >/dev/null 2>&1 || true
  pg_stop
  rm -rf "$work"
}
trap cleanup EXIT
source "$here/tests/bench/pg-lib.sh"
pg_start
bindir=$(pg_field bindir)
# The standby: a base backup of the primary, started read-only; it streams the primary's WAL.
"$here/tests/support/pg-standby.sh" start "$work/pg.state" "$work/standby.state"
standby_url=$(pg_field url "$work/standby.state")
standby_base=${standby_url%/*}

# An empty database on the primary, once it exists on the standby too; prints its name.
new_db() {
  local name="rep_$(date +%s%N)"
  psql -q "$server_url" -c "CREATE DATABASE $name" >/dev/null
  until psql -qtA "$standby_base/$name" -c "SELECT 1" >/dev/null 2>&1; do sleep 0.1; done
  echo "$name"
}

# The report's read: every decision of the domain, grouped as a report groups them (a full read
# of its window, the part of GET /v1/domains/{d}/report that grows with the traffic).
report_loop() {  # report_loop URL PID: runs the read until PID ends; prints the reads done
  local n=0
  while kill -0 "$2" 2>/dev/null; do
    psql -qtA "$1" -c "SELECT status, label, count(*), avg(confidence) FROM decisions WHERE domain = 'credit' GROUP BY status, label" >/dev/null 2>&1 && n=$((n + 1))
  done
  echo "$n"
}

# Every 100 ms while PID runs: how far the standby's replay is behind the primary's WAL, in bytes
# (pg_stat_replication on the primary); prints mean and max.
lag_sampler() {
  local n=0 sum=0 max=0 lag
  while kill -0 "$1" 2>/dev/null; do
    lag=$(psql -qtA "$server_url" -c "SELECT COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint FROM pg_stat_replication" 2>/dev/null | head -1)
    lag=${lag:-0}
    n=$((n + 1)); sum=$((sum + lag)); [ "$lag" -gt "$max" ] && max=$lag
    sleep 0.1
  done
  awk -v s="$sum" -v n="$n" -v m="$max" 'BEGIN { printf "replay behind by %.1f KiB on average, %.1f KiB at most (%d samples)", n ? s / n / 1024 : 0, m / 1024, n }'
}

# run WHERE: the writer on a new database, the report read on the primary, on the standby, or
# nowhere; prints the writer's decisions/s, the reads done and the replication lag.
run() {
  local where=$1 db t0 t1 writer reads=0 lag
  db=$(new_db)
  t0=$(date +%s%N)
  HITL_BENCH_PG_URL="${server_url%/*}/$db" "$bench" "$DECISIONS" 1000 normal "$plugin" > "$work/writer.out" 2>&1 &
  writer=$!
  lag_sampler "$writer" > "$work/lag.out" &
  local sampler=$!
  case $where in
    primary) report_loop "${server_url%/*}/$db" "$writer" > "$work/reads.out" & ;;
    standby) report_loop "$standby_base/$db" "$writer" > "$work/reads.out" & ;;
    *) echo 0 > "$work/reads.out" & ;;
  esac
  local reader=$!
  wait "$writer" || { echo "the writer failed:"; cat "$work/writer.out"; exit 1; }
  t1=$(date +%s%N)
  wait "$sampler" "$reader" || true
  # Caught up: the standby holds every decision the writer committed.
  local t2 rows
  until rows=$(psql -qtA "$standby_base/$db" -c "SELECT count(*) FROM decisions" 2>/dev/null) && [ "$rows" = "$DECISIONS" ]; do sleep 0.05; done
  t2=$(date +%s%N)
  echo "$(( DECISIONS * 1000000000 / (t1 - t0) )) decisions/s; report reads done: $(cat "$work/reads.out"); $(cat "$work/lag.out"); standby complete $(( (t2 - t1) / 1000000 )) ms after the last commit"
}

echo "# replica bench: $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "one writer ($DECISIONS decisions, batches of 1000 with their audit records), PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') with a streaming standby:"
echo "  no report read:                 $(run none)"
echo "  report reads on the primary:    $(run primary)"
echo "  report reads on the standby:    $(run standby)"
echo "(load average after: $(cut -d' ' -f1-3 /proc/loadavg))"
