#!/usr/bin/env bash
# End-to-end benchmarks of the write path (not part of ctest: figures, not pass/fail).
#   tests/bench/run.sh [BUILD_DIR] [RECORDS]
# 1. batch ingest: RECORDS JSONL predictions through `hitl ingest` (model skipped, policy, group
#    commit, audit), printing records/s;
# 2. HTTP: `hitl serve` + wrk POSTing single predictions with unique ids over keep-alive
#    connections (every request is a committed, audited decision), printing requests/s.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
records=${2:-200000}
hitl="$build/bin/hitl"
work=$(mktemp -d /tmp/hitl-bench.XXXXXX)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
server=

cat > "$work/policy.lua" <<'LUA'
local hitl = require "hitl"
return {
  flag = function(p)
    if p.prediction.confidence >= 0.8 then return hitl.auto() end
    return hitl.review("low_confidence")
  end,
  priority = function(task) return 1 - task.prediction.confidence end,
}
LUA
cat > "$work/hitl.lua" <<'LUA'
return {
  listen = "127.0.0.1:0",
  http_threads = 2,
  log = { level = "warn" },
  storage = { plugin = "sqlite", config = { path = "hitl.db" } },
  queue   = { plugin = "sqlite", config = { path = "hitl.db" } },
  domains = { bench = { policy = "policy.lua", labels = { "good", "bad" } } },
}
LUA

echo "== batch ingest: $records records"
python3 - "$work/records.jsonl" "$records" <<'PY'
import json, random, sys
random.seed(7)
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        c = round(random.random(), 3)
        f.write(json.dumps({"id": f"r{i}", "input": {"amount": random.randint(100, 50000),
                 "age": random.randint(18, 80), "home": random.choice(["rent", "own", "parents"])},
                 "prediction": {"label": "good" if c > 0.3 else "bad", "confidence": c}}) + "\n")
PY
"$hitl" ingest --config "$work/hitl.lua" --domain bench "$work/records.jsonl"

echo "== HTTP: single predictions, unique ids, wrk -t2 -c64 -d10s"
if ! command -v wrk >/dev/null; then echo "wrk not installed (apt-get install wrk): skipped"; exit 0; fi
token=$("$hitl" token create --config "$work/hitl.lua" --role client --name bench)
"$hitl" serve --config "$work/hitl.lua" > "$work/serve.out" 2> "$work/serve.log" &
server=$!
for _ in $(seq 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$work/serve.out")
cat > "$work/post.lua" <<LUA
local counter = 0
local thread_id = 0
function setup(thread) thread:set("tid", thread_id); thread_id = thread_id + 1 end
function init(args) prefix = "h" .. tid .. "-" end
request = function()
  counter = counter + 1
  local conf = (counter % 10) / 10
  local body = '{"id":"' .. prefix .. counter .. '","input":{"amount":' .. (counter % 5000) ..
               '},"prediction":{"label":"good","confidence":' .. conf .. '}}'
  return wrk.format("POST", "/v1/domains/bench/predictions",
                    {["Authorization"] = "Bearer $token", ["Content-Type"] = "application/json"}, body)
end
LUA
wrk -t2 -c64 -d10s --latency -s "$work/post.lua" "$url"
echo "decisions stored: $(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from decisions').fetchone()[0])" "$work/hitl.db")"
