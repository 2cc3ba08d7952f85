#!/usr/bin/env bash
# Backlog benchmark (issue 19; figures, not pass/fail, not in ctest):
#   tests/bench/backlog.sh [BUILD_DIR] [PENDING...]      (default: build, 0 10000 100000 1000000)
# For each backlog size: a fresh database with that many pending review tasks written straight
# into SQLite (tasks, their decisions and queue items, as `hitl serve` would have left them), then
#  - start-up: ms until /healthz answers;
#  - intake: wrk -t2 -c32 -d10s with ../shared/bench/wrk.lua (single-record POSTs, unique ids)
#    against the credit_risk example (WRK_LUA to use another copy);
#  - claims: p50/p99 of GET /v1/review/next (each followed by a release) over CLAIMS claims;
#  - /metrics: ms per scrape;
#  - idle: % of a core the idle service uses (after the start-up re-queue walk);
#  - rss: the service's resident memory after the run, in MiB.
# Prints one line per size, so runs of two builds (before/after) can be put side by side.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-build}" && pwd)
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(0 10000 100000 1000000)
hitl="$build/bin/hitl"
wrk_lua=${WRK_LUA:-$here/../shared/bench/wrk.lua}
claims=${CLAIMS:-500}
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install wrk)"; exit 1; }
[ -f "$wrk_lua" ] || { echo "no $wrk_lua (set WRK_LUA)"; exit 1; }
work=$(mktemp -d /tmp/hitl-backlog.XXXXXX)
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$work"' EXIT
source "$here/tests/bench/lib.sh"

# The example domain in a scratch copy (its var/ folders are written to).
cp -r "$here/examples/credit_risk" "$work/ex"
export HITL_DB="$work/ex/var/hitl.db"

claim_latency() {  # claim_latency URL TOKEN N: p50/p99 ms of N claims (each released after)
  python3 - "$1" "$2" "$3" <<'PY'
import http.client, json, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1]); tok = sys.argv[2]; n = int(sys.argv[3])
c = http.client.HTTPConnection(u.hostname, u.port)
h = {"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
lat = []
for _ in range(n):
    t0 = time.perf_counter()
    c.request("GET", "/v1/review/next?domain=credit_risk", headers=h); r = c.getresponse(); body = r.read()
    lat.append((time.perf_counter() - t0) * 1000)
    if r.status != 200: print(f"claim answered {r.status}: {body[:200]!r}", file=sys.stderr); break
    tid = json.loads(body)["task_id"]
    c.request("POST", f"/v1/review/tasks/{tid}/release", body="{}", headers=h); c.getresponse().read()
lat.sort()
print(f"claim_p50_ms={lat[len(lat)//2]:.2f} claim_p99_ms={lat[min(len(lat)-1, int(len(lat)*0.99))]:.2f} claims={len(lat)}")
PY
}

metrics_ms() {  # metrics_ms URL TOKEN: ms per /metrics scrape (mean of 5)
  python3 - "$1" "$2" <<'PY'
import http.client, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1]); c = http.client.HTTPConnection(u.hostname, u.port)
t0 = time.perf_counter()
for _ in range(5):
    c.request("GET", "/metrics", headers={"Authorization": "Bearer " + sys.argv[2]}); c.getresponse().read()
print(f"metrics_ms={(time.perf_counter() - t0) * 200:.1f}")
PY
}

idle_cpu() {  # idle_cpu PID: % of one core the process used over 10 s with no requests
  local before after ticks
  ticks=$(getconf CLK_TCK)
  before=$(awk '{print $14 + $15}' "/proc/$1/stat")
  sleep 10
  after=$(awk '{print $14 + $15}' "/proc/$1/stat")
  echo "idle_cpu_pct=$(( (after - before) * 100 / (ticks * 10) ))"
}

echo "hitl: $hitl"
for n in "${sizes[@]}"; do
  fresh_db
  fill "$n"
  t0=$(date +%s%N)
  start_server
  startup_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  # Intake is measured once the background re-queue walk is done (its duration is printed; the
  # service answers during it, see docs/performance.md for intake during the walk).
  wait_for_walk "$n"
  sleep 1
  idle=$(idle_cpu "$server")
  # PERF=DIR: a perf profile of the server during the intake run, summarised in DIR/perf-N.txt.
  perf_pid=
  if [ -n "${PERF:-}" ]; then
    perf record -q -F 499 -p "$server" -o "$work/perf.data" -- sleep 10 2>/dev/null &
    perf_pid=$!
  fi
  intake=$(TOKEN=$(cat "$work/client.tok") RUNID="n$n" wrk -t2 -c32 -d"${WRK_DURATION:-10s}" -s "$wrk_lua" "$url/v1/domains/credit_risk/predictions" | grep SUMMARY)
  if [ -n "${PERF:-}" ]; then
    wait "$perf_pid" || true
    mkdir -p "$PERF"
    for sort in dso dso,symbol; do
      perf report -q -i "$work/perf.data" --no-children --sort "$sort" --stdio 2>/dev/null |
        sed "s/  *-  *-  *$//; s/  *$//" | grep -v "^$" | cut -c1-150 | head -40 || true
    done > "$PERF/perf-$n.txt"
  fi
  lat=$(claim_latency "$url" "$(cat "$work/rev.tok")" "$claims")
  met=$(metrics_ms "$url" "$(cat "$work/admin.tok")")
  rss="rss_mb=$(rss_mb "$server")"
  stop_server
  requeue=$(grep -o 'requeued [0-9]* open review tasks in [0-9]* ms' "$work/serve.log" | grep -o '[0-9]* ms' || echo 'not finished')
  echo "pending=$n startup_ms=$startup_ms ${intake#SUMMARY } $lat $met $idle $rss requeue=\"$requeue\""
done
