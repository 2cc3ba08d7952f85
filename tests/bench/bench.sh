#!/usr/bin/env bash
# `make bench` (issue 19): every figure of the write path, each beside the Python reference
# (../shared/bench beside the clone: peer.py, gen.py, wrk.lua; REF_DIR to use another copy) measured in the same
# run. Figures, not pass/fail; not part of `make test` or ctest.
#   tests/bench/bench.sh [BUILD_DIR]        (default build-release: configured Release, built if needed)
# Sizes (env): BATCH_N (1000000), BATCH_SMALL (200000), BATCH_ROUNDS and BATCH_ROUNDS_LARGE (3 each:
# alternated rounds of hitl and the reference, their medians printed), SIZES for HTTP and claim latency
# ("0 10000 100000 1000000"), REVIEW_BACKLOG (1000000), REVIEW_SECONDS (10), RELOADS (5).
# BENCH_QUICK=1: 20k/20k records, SIZES "0 10000", REVIEW_BACKLOG 10000, 5 s runs (a few minutes).
# SECTIONS: which sections run, of "batch http review reload" (all by default), e.g. SECTIONS=review.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build_arg=${1:-build-release}
ref=${REF_DIR:-$here/../shared/bench}
if [ -n "${BENCH_QUICK:-}" ]; then
  : "${BATCH_N:=20000}" "${BATCH_SMALL:=20000}" "${SIZES:=0 10000}" "${REVIEW_BACKLOG:=10000}"
  : "${REVIEW_SECONDS:=5}" "${WRK_DURATION:=5s}" "${RELOADS:=3}"
fi
: "${BATCH_N:=1000000}" "${BATCH_SMALL:=200000}" "${SIZES:=0 10000 100000 1000000}" "${REVIEW_BACKLOG:=1000000}"
: "${REVIEW_SECONDS:=10}" "${WRK_DURATION:=10s}" "${RELOADS:=5}" "${SECTIONS:=batch http review reload}"
: "${BATCH_ROUNDS:=3}" "${BATCH_ROUNDS_LARGE:=3}"
export WRK_DURATION
want() { [[ " $SECTIONS " == *" $1 "* ]]; }

command -v wrk >/dev/null || { echo "wrk not installed (apt-get install wrk)"; exit 1; }
for f in peer.py gen.py wrk.lua; do [ -f "$ref/$f" ] || { echo "no $ref/$f (set REF_DIR)"; exit 1; }; done
# The reference's Python: Debian's (python3-fastapi, python3-uvicorn), not a python3 of another prefix.
py=${PYTHON:-/usr/bin/python3}
peer_http=1
"$py" -c "import fastapi, uvicorn" 2>/dev/null || {
  peer_http=; echo "note: python3-fastapi/python3-uvicorn missing: the HTTP reference is skipped"; }

# A Release build of what the benchmarks run (configured once; ninja skips what is up to date).
[ -f "$build_arg/build.ninja" ] || cmake -S "$here" -B "$build_arg" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHITL_BUILD_TESTS=OFF
nice cmake --build "$build_arg" -j "$(nproc)" --target hitl storage-sqlite queue-sqlite model-logreg >/dev/null
build=$(cd "$build_arg" && pwd)
hitl="$build/bin/hitl"
work=$(mktemp -d /tmp/hitl-bench.XXXXXX)
server= peer=
trap '[ -n "$server" ] && kill $server 2>/dev/null; [ -n "$peer" ] && kill $peer 2>/dev/null; rm -rf "$work"' EXIT
source "$here/tests/bench/lib.sh"
cp -r "$here/examples/credit_risk" "$work/ex"
export HITL_DB="$work/ex/var/hitl.db"
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "# hitl bench: $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?') $(grep -m1 CMAKE_BUILD_TYPE: "$build/CMakeCache.txt" | cut -d= -f2), $(nproc) cores, load average $(load)"

# --- batch: hitl ingest against peer.py --batch on the same generated files -------------------
if want batch; then
python3 "$ref/gen.py" "$work/big.jsonl" "$BATCH_N" b >/dev/null
python3 "$ref/gen.py" "$work/first.jsonl" "$BATCH_SMALL" f >/dev/null
python3 "$ref/gen.py" "$work/second.jsonl" "$BATCH_SMALL" s >/dev/null
# run_timed N CMD...: "records/s CPU-seconds peak-RSS-KiB" of CMD's whole process over N records
# (its output in $work/timed.out). CPU is printed beside the rate because on a shared machine the
# kernel shares the CPU per session, not per thread: there the rate follows the CPU a run needs.
run_timed() {
  local n=$1; shift
  local t0 t1; t0=$(date +%s%N)
  /usr/bin/time -o "$work/time.out" -f "%U %S %M" "$@" > "$work/timed.out" 2>&1
  t1=$(date +%s%N)
  read -r user sys rss < "$work/time.out"
  echo "$(( n * 1000000000 / (t1 - t0) )) $(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.1f", u + s}') $rss"
}
hitl_batch() {  # hitl_batch FILE: records/s, CPU s, peak RSS KiB of `hitl ingest`, whole process
  run_timed "$(wc -l < "$1")" "$hitl" ingest --config "$work/ex/hitl.lua" --domain credit_risk "$1"
}
peer_batch() {  # peer_batch FILE DB: records/s, CPU s of peer.py --batch, whole process
  run_timed "$(wc -l < "$1")" "$py" "$ref/peer.py" --batch "$1" "$2"
}
db_mb() { du -cm "$1"* | tail -1 | cut -f1; }  # the file with its WAL
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
# batch_round FILE [SECOND]: one round, hitl then the reference, each into a fresh database (with
# SECOND: FILE is loaded first, unmeasured, and SECOND measured); prints "hitl-rate hitl-cpu
# peer-rate peer-cpu hitl-peak-rss-kib".
batch_round() {
  local first=$1 second=${2:-} h hc p pc rss
  rm -rf "$work/ex/var" "$work"/peer*.db*
  if [ -n "$second" ]; then  # into a database already holding $first
    hitl_batch "$first" >/dev/null; peer_batch "$first" "$work/peer1.db" >/dev/null
    first=$second
  fi
  read -r h hc rss <<<"$(hitl_batch "$first")"
  cp "$work/timed.out" "$work/hitl.out"
  read -r p pc _ <<<"$(peer_batch "$first" "$work/peer1.db")"
  echo "$h $hc $p $pc $rss"
}
# batch_compare LABEL ROUNDS FILES...: ROUNDS alternated rounds, each printed, then the medians.
# Alternating, and the median of the rounds, keep one run's passing load from deciding the figure.
batch_compare() {
  local label=$1 rounds=$2 r hs=() hcs=() ps=() pcs=(); shift 2
  for r in $(seq "$rounds"); do
    read -r h hc p pc rss <<<"$(batch_round "$@")"
    hs+=("$h"); hcs+=("$hc"); ps+=("$p"); pcs+=("$pc"); last_rss_kb=$rss
    echo "  round $r: hitl $h ($hc s CPU)  reference $p ($pc s CPU)   (load $(load))"
  done
  echo "$label: hitl $(median "${hs[@]}") ($(median "${hcs[@]}") s CPU)  reference $(median "${ps[@]}") ($(median "${pcs[@]}") s CPU)   (medians of $rounds rounds)"
}
echo
echo "## batch ingest (records/s and CPU seconds, whole process; reference: peer.py --batch, 1000 rows a transaction)"
batch_compare "fresh database, $BATCH_SMALL records" "$BATCH_ROUNDS" "$work/first.jsonl"
batch_compare "into a database holding $BATCH_SMALL decisions" "$BATCH_ROUNDS" "$work/first.jsonl" "$work/second.jsonl"
batch_compare "fresh database, $BATCH_N records" "$BATCH_ROUNDS_LARGE" "$work/big.jsonl"
# The last round's databases: the size per million decisions, the tasks it queued, peak RSS.
flagged=$(grep -o '[0-9]* pending_review' "$work/hitl.out" | cut -d' ' -f1)
hdb=$(db_mb "$HITL_DB")
pdb=$(db_mb "$work/peer1.db")
echo "  the last round of $BATCH_N: $flagged review tasks queued; hitl ingest peak RSS $((last_rss_kb / 1024)) MiB"
echo "  database per million decisions: hitl $((hdb * 1000000 / BATCH_N)) MiB, reference $((pdb * 1000000 / BATCH_N)) MiB"
rm -rf "$work"/peer*.db* "$work/big.jsonl"
fi

# --- HTTP intake and claim latency by backlog (backlog.sh), the reference at 0 pending -------
if want http; then
echo
echo "## HTTP single-record POSTs, wrk -t2 -c32 -d$WRK_DURATION (tests/bench/backlog.sh; claims: GET /v1/review/next, released)"
peer_wrk() {
  rm -f "$work/peer3.db"*
  (cd "$ref" && PEER_DB="$work/peer3.db" exec "$py" -m uvicorn peer:app --port 18931 --log-level warning --no-access-log) &
  peer=$!
  until curl -s -o /dev/null "http://127.0.0.1:18931/docs"; do sleep 0.1; done
  TOKEN=x RUNID="peer$1" wrk -t2 -c32 -d"$WRK_DURATION" -s "$ref/wrk.lua" http://127.0.0.1:18931/v1/domains/credit_risk/predictions | grep SUMMARY
  kill "$peer"; wait "$peer" 2>/dev/null || true; peer=
}
[ -z "$peer_http" ] || echo "reference, 0 pending: $(peer_wrk 1)   (load $(load))"
# shellcheck disable=SC2086
WRK_LUA="$ref/wrk.lua" "$here/tests/bench/backlog.sh" "$build" $SIZES | grep -v '^hitl:'
[ -z "$peer_http" ] || echo "reference, 0 pending: $(peer_wrk 2)   (load $(load))"
fi

# --- review: 64 reviewers claim + submit ------------------------------------------------------
if want review; then
echo
echo "## review: 64 reviewers, claim + submit over HTTP for ${REVIEW_SECONDS} s (tests/bench/reviewers.cpp)"
client_bin=$(reviewers_client)
review_run() {  # review_run PENDING [HTTP_THREADS]
  fresh_db
  : > "$work/reviewers.tok"
  for i in $(seq 64); do
    "$hitl" token create --config "$work/ex/hitl.lua" --role reviewer --name "r$i" --domains credit_risk >> "$work/reviewers.tok"
  done
  fill "$1"
  local threads=${2:-}
  [ -z "$threads" ] || sed "s/^return {/return {\n  http_threads = $threads,/" "$work/ex/hitl.lua" > "$work/ex/hitl-threads.lua"
  SERVE_CONFIG=${threads:+$work/ex/hitl-threads.lua} start_server
  wait_for_walk "$1"
  # CPU seconds of the service and of the client during the run: both share the 2 cores.
  local before; before=$(cpu_s "$server")
  local figures; figures=$(/usr/bin/time -o "$work/client.time" -f "%U %S" \
    "$client_bin" "$url" "$work/reviewers.tok" "$REVIEW_SECONDS")
  local served; served=$(awk -v a="$before" -v b="$(cpu_s "$server")" 'BEGIN {printf "%.1f", b - a}')
  local client; client=$(awk '{printf "%.1f", $1 + $2}' "$work/client.time")
  echo "pending=$1${threads:+ http_threads=$threads} $figures cpu_s: service $served, client $client (load $(load))"
  stop_server
}
# The CPU seconds (user + system) process PID has used so far.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
# "0 pending": just what the run can take (5000 a second at most), so the queue empties as it would.
review_run $(( REVIEW_SECONDS * 5000 ))
review_run "$REVIEW_BACKLOG"
# Claims and submits of different reviewers run together (core/review/review_locks.hpp), each
# holding its HTTP I/O thread through its commits: with the default 2 threads, 2 at a time.
review_run "$REVIEW_BACKLOG" 8
fi

# --- policy reload under HTTP load ------------------------------------------------------------
if want reload; then
echo
echo "## policy reload under HTTP load: $RELOADS reloads (each a changed policy file) during wrk"
fresh_db
start_server
TOKEN=$(cat "$work/client.tok") RUNID=reload wrk -t2 -c32 -d"$WRK_DURATION" -s "$ref/wrk.lua" \
  "$url/v1/domains/credit_risk/predictions" > "$work/reload.wrk" &
wrk_pid=$!
sleep 1
lat=()
for i in $(seq "$RELOADS"); do
  echo "-- reload $i" >> "$work/ex/policy.lua"  # a different file: a real reload, not "unchanged"
  t0=$(date +%s%N)
  code=$(curl -s -o "$work/reload.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat "$work/admin.tok")" \
    "$url/v1/domains/credit_risk/policy/reload")
  lat+=("$(( ($(date +%s%N) - t0) / 1000000 ))ms/$code/$(grep -o '"outcome": *"[a-z_]*"' "$work/reload.out" | grep -o '[a-z_]*"$' | tr -d '"')")
  sleep 0.5
done
wait "$wrk_pid"
stop_server
echo "reload latency (ms/status/outcome): ${lat[*]}; intake meanwhile: $(grep SUMMARY "$work/reload.wrk" | cut -d' ' -f2-)"
fi
echo
echo "# load average at the end: $(load)"
