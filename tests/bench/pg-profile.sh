#!/usr/bin/env bash
# Where a batch ingest's time goes on PostgreSQL (issue 20; docs/performance.md, "Batch ingest on
# PostgreSQL: the profile"). One `hitl ingest` of N generated records (../shared/bench/gen.py)
# into a fresh database of the tests' throw-away server (tests/support/pg-test-server.sh, with
# pg_stat_statements loaded), then: wall time and rate; CPU seconds of the client (the hitl
# process) and of the server (its processes, the backends that exited included); WAL bytes and
# records; commits; the statements by total time (pg_stat_statements); the wait events of the
# database's active backends sampled every 50 ms. A profile, not a benchmark: the sampling costs
# a little server CPU (SAMPLE=0 turns it off) and nothing here compares against the reference.
#   tests/bench/pg-profile.sh [BUILD_DIR]   (default build)
# Env: N (200000 records), REF_DIR (../shared/bench), SAMPLE (1), PERF=DIR: `perf record -a -g`
# during the ingest into DIR/perf.data, with DIR/pids holding the hitl process and the server's
# processes (`perf report -i DIR/perf.data --pid $(paste -sd, DIR/pids) --sort pid,dso,sym`).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-build}" && pwd)
ref=${REF_DIR:-$here/../shared/bench}
: "${N:=200000}" "${SAMPLE:=1}" "${PERF:=}"
[ -f "$ref/gen.py" ] || { echo "no $ref/gen.py (set REF_DIR)"; exit 1; }
work=$(mktemp -d /tmp/hitl-pgprofile.XXXXXX)
chmod 755 "$work"
bg=()
cleanup() {
  for p in "${bg[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pg_stop
  rm -rf "$work"
}
trap cleanup EXIT
source "$here/tests/bench/pg-lib.sh"
pg_start
dir=$(pg_field dir); bindir=$(pg_field bindir); user=$(pg_field user)
as_server() { if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi; }
# pg_stat_statements must be loaded at start: the same server, restarted with it.
psql -q "$server_url" -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" -c "ALTER SYSTEM SET track_io_timing = on"
as_server "$bindir/pg_ctl" -D "$dir/data" -w -m fast restart >/dev/null
psql -q "$server_url" -c "CREATE DATABASE profile"
db="${server_url%/*}/profile"
psql -q "$db" -c "CREATE EXTENSION pg_stat_statements"
pm=$(head -1 "$dir/data/postmaster.pid")

cp -r "$here/examples/credit_risk" "$work/ex"
pg_config "$work/ex/hitl.lua" "$work/ex/hitl-pg.lua"
export HITL_PG_URL="$db"
python3 "$ref/gen.py" "$work/records.jsonl" "$N" f >/dev/null
: > "$work/empty.jsonl"  # opens (and migrates) the database before the measured run
(cd "$work/ex" && "$build/bin/hitl" ingest --config hitl-pg.lua --domain credit_risk "$work/empty.jsonl" >/dev/null 2>&1) || true

# CPU ticks of the server: its processes now, plus what its exited children (backends) used.
server_ticks() {
  local t=0 p f
  for p in $pm $(pgrep -P "$pm"); do
    f=$(cut -d')' -f2 "/proc/$p/stat" 2>/dev/null) || continue
    read -r -a s <<<"$f"
    t=$((t + s[11] + s[12]))
    [ "$p" = "$pm" ] && t=$((t + s[13] + s[14]))
  done
  echo "$t"
}
q() { psql -qAt "$db" -c "$1"; }
q "SELECT pg_stat_statements_reset(), pg_stat_reset_shared('wal')" >/dev/null
lsn0=$(q "SELECT pg_current_wal_lsn()"); x0=$(q "SELECT xact_commit FROM pg_stat_database WHERE datname = 'profile'")
if [ "$SAMPLE" = 1 ]; then
  # The sampler's own connection is left out; each sample is a short connection (a little CPU).
  (while sleep 0.05; do
     q "SELECT COALESCE(wait_event_type, 'CPU') || ':' || COALESCE(wait_event, 'running') || '  ' ||
               regexp_replace(left(query, 48), '\s+', ' ', 'g')
        FROM pg_stat_activity WHERE datname = 'profile' AND state = 'active' AND pid <> pg_backend_pid()" 2>/dev/null || true
   done) > "$work/waits" &
  bg+=($!)
fi
if [ -n "$PERF" ]; then
  mkdir -p "$PERF"
  perf record -a -g -F 499 -o "$PERF/perf.data" >/dev/null 2>&1 &
  perf_pid=$!
  (while sleep 0.2; do pgrep -P "$pm" || true; done) > "$PERF/pids.all" &
  bg+=($!)
fi
s0=$(server_ticks); t0=$(date +%s%N)
(cd "$work/ex" && exec /usr/bin/time -o "$work/time" -f "%U %S" "$build/bin/hitl" ingest --config hitl-pg.lua \
   --domain credit_risk "$work/records.jsonl") > "$work/ingest.out" 2>&1 &
ingest=$!
[ -n "$PERF" ] && { sleep 0.1; pgrep -P "$ingest" > "$PERF/pids.client" || true; }
wait "$ingest" || { echo "hitl ingest failed:"; tail -n 5 "$work/ingest.out"; exit 1; }
t1=$(date +%s%N); sleep 0.3; s1=$(server_ticks)
if [ -n "$PERF" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; { echo "$pm"; cat "$PERF/pids.client"; sort -u "$PERF/pids.all"; } > "$PERF/pids"; fi
for p in "${bg[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; bg=()
lsn1=$(q "SELECT pg_current_wal_lsn()"); x1=$(q "SELECT xact_commit FROM pg_stat_database WHERE datname = 'profile'")
read -r user_s sys_s < "$work/time"
hz=$(getconf CLK_TCK)

echo "# hitl batch ingest on PostgreSQL, profiled: $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?') $(grep -m1 CMAKE_BUILD_TYPE: "$build/CMakeCache.txt" | cut -d= -f2), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(tail -n 1 "$work/ingest.out")"
awk -v n="$N" -v ns=$((t1 - t0)) -v u="$user_s" -v s="$sys_s" -v st=$((s1 - s0)) -v hz="$hz" 'BEGIN {
  printf "wall %.2f s (%d records/s); CPU: client %.2f s, server %.2f s\n", ns / 1e9, n * 1e9 / ns, u + s, st / hz }'
echo "WAL $(q "SELECT pg_size_pretty(pg_wal_lsn_diff('$lsn1', '$lsn0'))") ($(q "SELECT wal_records || ' records, ' || wal_fpi || ' full-page images' FROM pg_stat_wal")); $((x1 - x0)) commits"
echo
echo "## statements by total time (pg_stat_statements; COPY's time includes waiting for the client's rows)"
psql -q "$db" -c "SELECT calls, round(total_exec_time::numeric) AS ms, rows, shared_blks_hit + shared_blks_read AS blocks,
                         pg_size_pretty(wal_bytes) AS wal, left(regexp_replace(query, '\s+', ' ', 'g'), 70) AS statement
                    FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'profile')
                   ORDER BY total_exec_time DESC LIMIT 12"
if [ "$SAMPLE" = 1 ]; then
  echo "## wait events of the active backends, $(wc -l < "$work/waits") samples (every 50 ms plus a psql start)"
  sort "$work/waits" | uniq -c | sort -rn | head -n 12
fi
