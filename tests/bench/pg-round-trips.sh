#!/usr/bin/env bash
# The statements one HTTP prediction costs on PostgreSQL (issue 20: the small write batch's round
# trips). One `hitl serve` on a fresh database of the tests' throw-away server
# (tests/support/pg-test-server.sh) with log_statement = all; N single-record POSTs sent one after
# the other (each its own group commit: the smallest batch), then the server's log of those N
# requests, each statement text (up to its first 70 characters) with its count per request. A
# COPY is logged once but costs two round trips (its start; the data and its end). The service's
# timers (SLA, leases, leadership) add a few fractional lines. Not part of `make test` or ctest.
# MODE=review counts the review path instead: REVIEWERS reviewers (tests/bench/reviewers.cpp, each
# its own thread and token) claim and submit at once for SECONDS_RUN s on a database filled with
# `hitl ingest` (../shared/bench/gen.py: FILL records, about 40% flagged), so the host's writer
# merges many claims and submits into each group commit; the statements are counted per
# completed pair (claim + submit), and COMMITs per pair tell how many pairs a commit held.
#   tests/bench/pg-round-trips.sh [BUILD_DIR]   (default build)
#   Env: N (20), MODE (intake | review), REVIEWERS (16), SECONDS_RUN (4), FILL (12000), REF_DIR (../shared/bench)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-build}" && pwd)
: "${N:=20}" "${MODE:=intake}" "${REVIEWERS:=16}" "${SECONDS_RUN:=4}" "${FILL:=12000}"
ref=${REF_DIR:-$here/../shared/bench}
work=$(mktemp -d /tmp/hitl-pgtrips.XXXXXX)
chmod 755 "$work"
serve=
cleanup() {
  [ -n "$serve" ] && { kill "$serve" 2>/dev/null || true; wait "$serve" 2>/dev/null || true; }
  pg_stop
  rm -rf "$work"
}
trap cleanup EXIT
source "$here/tests/bench/pg-lib.sh"
pg_start
dir=$(pg_field dir)
psql -q "$server_url" -c "CREATE DATABASE trips"
export HITL_PG_URL="${server_url%/*}/trips"
cp -r "$here/examples/credit_risk" "$work/ex"
pg_config "$work/ex/hitl.lua" "$work/ex/hitl-pg.lua"
cfg="$work/ex/hitl-pg.lua"
token=$("$build/bin/hitl" token create --config "$cfg" --role client --name app)
if [ "$MODE" = review ]; then
  for i in $(seq "$REVIEWERS"); do
    "$build/bin/hitl" token create --config "$cfg" --role reviewer --name "r$i" --domains credit_risk
  done > "$work/rev.tok"
  python3 "$ref/gen.py" "$work/fill.jsonl" "$FILL" r >/dev/null
  "$build/bin/hitl" ingest --config "$cfg" --domain credit_risk "$work/fill.jsonl" > "$work/fill.out" 2>&1 || true
  grep -h 'ingested' "$work/fill.out" || tail -n 1 "$work/fill.out"
  g++ -O2 -pthread -std=c++20 -o "$work/reviewers" "$here/tests/bench/reviewers.cpp"
fi
HITL_LISTEN=127.0.0.1:0 "$build/bin/hitl" serve --config "$cfg" > "$work/serve.out" 2> "$work/serve.log" &
serve=$!
until grep -q listening "$work/serve.out" 2>/dev/null; do sleep 0.05; done
base=$(grep -o 'http://[0-9.:]*' "$work/serve.out")
until curl -sf "$base/healthz" >/dev/null; do sleep 0.05; done
post() {  # post ID CONFIDENCE: one prediction (0.55: flagged for review, a task and a queue push)
  curl -sf -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"id\":\"$1\",\"input\":{\"Seniority\":9,\"Home\":\"rent\",\"Time\":60,\"Age\":30,\"Marital\":\"married\",\"Records\":\"no\",\"Job\":\"freelance\",\"Expenses\":73,\"Income\":129,\"Assets\":0,\"Debt\":0,\"Amount\":800,\"Price\":846},\"prediction\":{\"label\":\"good\",\"confidence\":$2}}" \
    "$base/v1/domains/credit_risk/predictions"
}
# histogram FROM TO PER WHAT: the statements the server logged between lines FROM and TO, each
# text with its count per PER (requests or pairs), and the round trips in all.
histogram() {
  sed -n "$(($1 + 1)),$2p" "$log" | grep -E 'LOG:  (statement|execute [^:]*):' |
    sed -E -e 's/.*LOG:  (statement|execute [^:]*): //' -e 's/SAVEPOINT "([a-z_]*)_[0-9]+"/SAVEPOINT "\1_N"/' |
    grep -v 'log_statement\|pg_reload_conf' | cut -c1-70 | sort | uniq -c | sort -rn |
    awk -v n="$3" -v what="$4" '{c = $1; $1 = ""; printf "%6.2f %s\n", c / n, $0; t += c; if ($2 == "COPY") t += c}
      END {printf "%6.2f round trips in all per %s (a COPY is two)\n", t / n, what}'
}
log="$dir/server.log"  # pg_ctl -l
log_all() { psql -q "$server_url" -c "ALTER SYSTEM SET log_statement = '$1'" -c "SELECT pg_reload_conf()" >/dev/null; }
if [ "$MODE" = review ]; then
  "$work/reviewers" "$base" "$work/rev.tok" 1 >/dev/null  # connections opened, statements prepared
  log_all all
  sleep 0.5
  from=$(wc -l < "$log")
  out=$("$work/reviewers" "$base" "$work/rev.tok" "$SECONDS_RUN")
  log_all none
  sleep 0.3
  to=$(wc -l < "$log")
  pairs=$(grep -o 'pairs=[0-9]*' <<<"$out" | cut -d= -f2)
  echo "## $REVIEWERS reviewers for $SECONDS_RUN s (log_statement = all): $out"
  echo "## statements per completed pair (claim + submit), over $pairs pairs"
  histogram "$from" "$to" "$pairs" pair
  exit 0
fi
for i in $(seq 5); do post "warm-$i" 0.55; done  # connections opened, statements prepared
log_all all
sleep 0.5
from=$(wc -l < "$log")
for conf in 0.55 0.93; do
  for i in $(seq "$N"); do post "p-$conf-$i" "$conf"; done
  sleep 0.3
  to=$(wc -l < "$log")
  echo "## $N POSTs with confidence $conf ($([ $conf = 0.55 ] && echo 'flagged: decision, task, audit, queue push' || echo 'auto-approved: decision, audit')): statements per request"
  histogram "$from" "$to" "$N" request
  from=$to
done
