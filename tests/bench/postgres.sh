#!/usr/bin/env bash
# The write path on PostgreSQL (issue 20), each figure beside the same run's SQLite figure and,
# for batch ingest, the Python reference (../shared/bench: peer.py, gen.py; REF_DIR for another
# copy). A throw-away server (tests/support/pg-test-server.sh: loopback, fsync=off) on this same
# machine. Figures, not pass/fail; not part of `make test` or ctest.
#   tests/bench/postgres.sh [BUILD_DIR]     (default build: any configured build with the plugins)
# Sizes (env): BATCH_SMALL (200000 records), REVIEW_FILL (60000 records ingested before each review
# run, about a third of them flagged), REVIEW_SECONDS (10), INSTANCES (3), WRK_DURATION (10s: the
# HTTP intake runs, on SQLite and on PostgreSQL with 1 and INSTANCES instances), PINNED_ROUNDS (3: the
# batch rounds with the instance on core 0 and the server on core 1), SECTIONS ("batch http review":
# the parts to run, e.g. SECTIONS=http for the HTTP intake alone), PG_STEP_THREADS (unset: the
# config's default, 4 on PostgreSQL; a number sets writer.step_threads on PostgreSQL, 0 for the
# writer thread, to compare), PG_HTTP_THREADS (unset: 2; http_threads on PostgreSQL).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-build}" && pwd)
ref=${REF_DIR:-$here/../shared/bench}
: "${BATCH_SMALL:=200000}" "${REVIEW_FILL:=60000}" "${REVIEW_SECONDS:=10}" "${INSTANCES:=3}" "${WRK_DURATION:=10s}"
: "${SECTIONS:=batch http review}"
want() { [[ " $SECTIONS " == *" $1 "* ]]; }
for f in peer.py gen.py; do [ -f "$ref/$f" ] || { echo "no $ref/$f (set REF_DIR)"; exit 1; }; done
py=${PYTHON:-/usr/bin/python3}
hitl="$build/bin/hitl"
work=$(mktemp -d /tmp/hitl-pgbench.XXXXXX)
chmod 755 "$work"
servers=()
stop_all() { for p in "${servers[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; servers=(); }
# On failure: say which step failed and keep the folder (its outputs and the servers' logs) for a
# look; set -e stops at the first failing command, which alone says nothing.
step="starting"
on_exit() {
  local rc=$1
  stop_all
  pg_stop
  if [ "$rc" = 0 ]; then rm -rf "$work"; return; fi
  echo "failed (exit $rc) while $step; outputs and logs kept in $work"
  tail -n 3 "$work"/*.out "$work"/*.log 2>/dev/null || true
}
trap 'on_exit $?' EXIT
source "$here/tests/bench/pg-lib.sh"
pg_start
load() { cut -d' ' -f1-3 /proc/loadavg; }
can_pin() { [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; }
# The postmaster, its children, and the backends it forks later: on core 1, or (unpin) on all.
pin_server() { taskset -a -p -c 1 "$(head -n 1 "$(pg_field dir)/data/postmaster.pid")" >/dev/null; }
unpin_server() { taskset -a -p -c "0-$(($(nproc) - 1))" "$(head -n 1 "$(pg_field dir)/data/postmaster.pid")" >/dev/null; }
PIN=  # the instances' and the load clients' prefix in the pinned runs ("taskset -c 0")
source "$here/tests/bench/lib.sh"  # reviewers_client
cp -r "$here/examples/credit_risk" "$work/ex"
cfg="$work/ex/hitl.lua"
# The example's config on PostgreSQL: the same file with the storage and queue lines replaced.
pg_config "$cfg" "$work/ex/hitl-pg.lua"
pgcfg="$work/ex/hitl-pg.lua"
[ -n "${PG_STEP_THREADS:-}" ] && sed -i "s|^return {|return {\n  writer = { step_threads = $PG_STEP_THREADS },|" "$pgcfg"
[ -n "${PG_HTTP_THREADS:-}" ] && sed -i "s|^return {|return {\n  http_threads = $PG_HTTP_THREADS,|" "$pgcfg"
n_db=0
fresh() {  # fresh sqlite|postgres: an empty database for the next run (HITL_DB or HITL_PG_URL)
  rm -rf "$work/ex/var"; mkdir -p "$work/ex/var"; export HITL_DB="$work/ex/var/hitl.db"
  n_db=$((n_db + 1))
  psql -q "$server_url" -c "CREATE DATABASE bench$n_db" >/dev/null
  export HITL_PG_URL="${server_url%/*}/bench$n_db"
}
config_of() { [ "$1" = postgres ] && echo "$pgcfg" || echo "$cfg"; }
timed() {  # timed N CMD...: "records/s CPU-seconds" of CMD over N records
  local n=$1; shift
  local t0 t1; t0=$(date +%s%N)
  /usr/bin/time -o "$work/time.out" -f "%U %S" "$@" > "$work/timed.out" 2>&1
  t1=$(date +%s%N)
  read -r user sys < "$work/time.out"
  echo "$(( n * 1000000000 / (t1 - t0) )) $(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.1f", u + s}')"
}

echo "# hitl bench on PostgreSQL: $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?') $(grep -m1 CMAKE_BUILD_TYPE: "$build/CMakeCache.txt" | cut -d= -f2), $(nproc) cores, load average $(load), writer.step_threads on PostgreSQL: ${PG_STEP_THREADS:-default}, http_threads: ${PG_HTTP_THREADS:-default}"
echo "# server: $("$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/postgres" --version), loopback, fsync=off"

if want batch; then
echo
echo "## batch ingest, $BATCH_SMALL records into a fresh database (records/s, CPU seconds of the client process)"
"$py" "$ref/gen.py" "$work/first.jsonl" "$BATCH_SMALL" f >/dev/null
for backend in sqlite postgres; do
  step="batch ingest on $backend"
  fresh
  read -r rate cpu <<<"$(timed "$BATCH_SMALL" "$hitl" ingest --config "$(config_of $backend)" --domain credit_risk "$work/first.jsonl")"
  echo "hitl ingest, $backend: $rate ($cpu s CPU)   (load $(load))"
done
read -r rate cpu <<<"$(timed "$BATCH_SMALL" "$py" "$ref/peer.py" --batch "$work/first.jsonl" "$work/peer.db")"
echo "reference peer.py --batch (SQLite): $rate ($cpu s CPU)"

echo
echo "## batch ingest with the server on a core of its own: hitl (and the reference) on core 0, PostgreSQL on core 1"
# On one shared 2-core machine the server's CPU comes out of the instance's: this is the set-up
# issue 20 describes, the database on hardware of its own, made with taskset on the two cores
# (the instance gets one core whichever backend it uses; the round trip stays loopback's).
# PINNED_ROUNDS alternated rounds, each printed, then the medians.
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
if can_pin; then
  pin_server
  declare -A rates=()
  for r in $(seq "${PINNED_ROUNDS:-3}"); do
    line="round $r:"
    for backend in sqlite postgres; do
      step="pinned batch ingest on $backend"
      fresh
      read -r rate cpu <<<"$(timed "$BATCH_SMALL" taskset -c 0 "$hitl" ingest --config "$(config_of $backend)" --domain credit_risk "$work/first.jsonl")"
      rates[$backend]+=" $rate"; line+=" $backend $rate ($cpu s CPU)"
    done
    rm -f "$work/peer1.db"*
    read -r rate cpu <<<"$(timed "$BATCH_SMALL" taskset -c 0 "$py" "$ref/peer.py" --batch "$work/first.jsonl" "$work/peer1.db")"
    rates[peer]+=" $rate"; echo "$line  reference $rate ($cpu s CPU)   (load $(load))"
  done
  # shellcheck disable=SC2086
  echo "medians: SQLite $(median ${rates[sqlite]}), PostgreSQL $(median ${rates[postgres]}), reference $(median ${rates[peer]}) records/s"
  unpin_server
else
  echo "skipped: needs 2 cores and taskset"
fi
fi

# pinned_runs RUN: RUN on SQLite and on PostgreSQL, one instance, with the server on a core of its
# own: the instance and its load client on core 0, PostgreSQL on core 1 (as the pinned batch runs).
pinned_runs() {
  can_pin || { echo "pinned runs skipped: needs 2 cores and taskset"; return; }
  echo "the server on a core of its own: hitl and the load client on core 0, PostgreSQL on core 1"
  pin_server
  PIN="taskset -c 0"
  "$1" sqlite 1
  "$1" postgres 1
  PIN=
  unpin_server
}

start_instances() {  # start_instances CONFIG N: N `hitl serve`; sets urls (comma-separated)
  urls=
  for i in $(seq "$2"); do
    # The previous run's file goes first: the loop below could read its old URL before the new
    # instance's redirection truncates it, and wait forever on a port nobody listens on.
    rm -f "$work/serve$i.out"
    HITL_LISTEN=127.0.0.1:0 $PIN "$hitl" serve --config "$1" > "$work/serve$i.out" 2> "$work/serve$i.log" &
    servers+=($!)
    until grep -q listening "$work/serve$i.out" 2>/dev/null; do sleep 0.05; done
    local u; u=$(grep -o 'http://[0-9.:]*' "$work/serve$i.out")
    until curl -sf "$u/healthz" >/dev/null; do sleep 0.05; done
    urls="${urls:+$urls,}$u"
  done
}
review_run() {  # review_run BACKEND INSTANCES
  local c; c=$(config_of "$1")
  step="creating the database of the $1 review run ($2 instances)"
  fresh
  step="creating 64 reviewer tokens ($1, $2 instances)"
  for i in $(seq 64); do "$hitl" token create --config "$c" --role reviewer --name "r$i" --domains credit_risk; done > "$work/rev.tok"
  # Enough pending tasks for the run: the generator's flagged records. hitl ingest exits 1 when a
  # record failed or was invalid: that is reported with its summary line, and the run goes on.
  step="filling the $1 database ($2 instances)"
  "$hitl" ingest --config "$c" --domain credit_risk "$work/fill.jsonl" > "$work/fill.out" 2>&1 ||
    echo "note: the fill's hitl ingest exited $?: $(grep -h 'ingested' "$work/fill.out" || tail -n 1 "$work/fill.out")"
  local pending; pending=$(grep -o '[0-9]* pending_review' "$work/fill.out" | cut -d' ' -f1)
  step="starting $2 instance(s) on $1"
  start_instances "$c" "$2"
  step="the $1 review run ($2 instances)"
  echo "$1, $2 instance(s), $pending pending: $($PIN "$client_bin" "$urls" "$work/rev.tok" "$REVIEW_SECONDS") (load $(load))"
  stop_all
}
echo
echo "## HTTP single-record POSTs for $WRK_DURATION ($ref/wrk.lua; 32 connections: wrk -t2 -c32 on one instance, one wrk -t1 per instance on several)"
# http_run BACKEND INSTANCES: records/s over all instances, the worst instance's p99, and errors.
http_run() {
  local c; c=$(config_of "$1")
  step="the $1 HTTP run ($2 instances)"
  fresh
  local tok; tok=$("$hitl" token create --config "$c" --role client --name "app")
  start_instances "$c" "$2"
  local i=0 u threads=1 conns=$((32 / $2 + 1)) wrks=()
  [ "$2" = 1 ] && threads=2 conns=32
  for u in ${urls//,/ }; do
    i=$((i + 1))
    TOKEN=$tok RUNID="h$1$2i$i" $PIN wrk -t"$threads" -c"$conns" -d"$WRK_DURATION" -s "$ref/wrk.lua" \
      "$u/v1/domains/credit_risk/predictions" > "$work/wrk$i.out" &
    wrks+=($!)
  done
  wait "${wrks[@]}"
  grep -h SUMMARY "$work"/wrk*.out | awk -v b="$1" -v n="$2" -v l="$(load)" '
    { for (f = 2; f <= NF; f++) { split($f, kv, "="); v[kv[1]] = kv[2] }
      rate += v["req_s"]; if (v["p99_ms"] > p99) p99 = v["p99_ms"]; err += v["errors"]; bad += v["non2xx"] }
    END { printf "%s, %d instance(s): %.0f req/s, worst p99 %.2f ms, errors %d, non-2xx %d   (load %s)\n", b, n, rate, p99, err, bad, l }'
  rm -f "$work"/wrk*.out
  stop_all
}
if ! want http; then
  echo "skipped (SECTIONS)"
elif command -v wrk >/dev/null && [ -f "$ref/wrk.lua" ]; then
  http_run sqlite 1
  http_run postgres 1
  http_run postgres "$INSTANCES"
  pinned_runs http_run
else
  echo "skipped: needs wrk and $ref/wrk.lua"
fi

if want review; then
echo
echo "## review: 64 reviewers, claim + submit over HTTP for $REVIEW_SECONDS s (tests/bench/reviewers.cpp; reviewers spread over the instances)"
client_bin=$(reviewers_client)
"$py" "$ref/gen.py" "$work/fill.jsonl" "$REVIEW_FILL" r >/dev/null
review_run sqlite 1
review_run postgres 1
review_run postgres "$INSTANCES"
pinned_runs review_run
fi
echo
echo "# load average at the end: $(load)"
