# Shared by the benchmark scripts of tests/bench/ (sourced; figures, not pass/fail, not in ctest).
# Expects: $hitl (the binary), $work (a scratch folder holding ex/, a copy of examples/credit_risk)
# and HITL_DB exported (the database of that copy).

fill() {  # fill N: N pending tasks of credit_risk with decisions and queue items
  python3 - "$HITL_DB" "$1" <<'PY'
import json, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1]); n = int(sys.argv[2]); now = int(time.time() * 1000)
inp = json.dumps({"Seniority": 9, "Home": "rent", "Time": 60, "Age": 30, "Marital": "married", "Records": "no",
                  "Job": "freelance", "Expenses": 73, "Income": 129, "Assets": 0, "Debt": 0, "Amount": 800, "Price": 846})
with db:
    db.executemany("INSERT INTO decisions(domain, id, status, task_id, priority, label, confidence, input_json, created_ms) "
                   "VALUES ('credit_risk', ?, 'review', ?, ?, 'good', 0.55, ?, ?)",
                   ((f"bl-{i}", i, (i % 90) / 100, inp, now) for i in range(1, n + 1)))
    db.executemany("INSERT INTO tasks(task_id, domain, decision_id, status, priority, deadline_ms, created_ms, updated_ms) "
                   "VALUES (?, 'credit_risk', ?, 'pending', ?, ?, ?, ?)",
                   ((i, f"bl-{i}", (i % 90) / 100, now + 7_200_000, now, now) for i in range(1, n + 1)))
    db.executemany("INSERT INTO queue_items(task_id, domain, priority, deadline_ms, due_ms, created_ms) "
                   "VALUES (?, 'credit_risk', ?, ?, ?, ?)",
                   ((i, (i % 90) / 100, now + 7_200_000, now + 7_200_000, now) for i in range(1, n + 1)))
# Into the database file, as a long-running service would have it (not a WAL for the first
# checkpoint of the measured run to copy).
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
PY
}

start_server() {  # starts hitl serve, waits for /healthz; sets server and url
  rm -f "$work/serve.out"
  # SERVE_CONFIG: another config beside ex/hitl.lua (same folder, so the same database).
  HITL_LISTEN=127.0.0.1:0 "$hitl" serve --config "${SERVE_CONFIG:-$work/ex/hitl.lua}" > "$work/serve.out" 2> "$work/serve.log" &
  server=$!
  until grep -q listening "$work/serve.out" 2>/dev/null; do sleep 0.02; done
  url=$(grep -o 'http://[0-9.:]*' "$work/serve.out")
  until curl -sf "$url/healthz" >/dev/null; do sleep 0.02; done
}
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; server=; }

wait_for_walk() {  # the start-up re-queue walk over N pending tasks is done (or 120 s passed)
  [ "$1" = 0 ] || for _ in $(seq 600); do grep -q 'requeued [0-9]* open review tasks' "$work/serve.log" && break; sleep 0.2; done
}

fresh_db() {  # an empty database (the schema made by the build under test) with bench tokens
  rm -rf "$work/ex/var"; mkdir -p "$work/ex/var"
  local cfg="$work/ex/hitl.lua"
  "$hitl" token create --config "$cfg" --role client --name bench-client > "$work/client.tok"
  "$hitl" token create --config "$cfg" --role reviewer --name bench-reviewer --domains credit_risk > "$work/rev.tok"
  "$hitl" token create --config "$cfg" --role admin --name bench-admin > "$work/admin.tok"
  start_server; stop_server
}

rss_mb() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

reviewers_client() {  # the 64-reviewer client (tests/bench/reviewers.cpp), built once into $work
  [ -x "$work/reviewers" ] ||
    g++ -O2 -pthread -std=c++20 -o "$work/reviewers" "$(dirname "${BASH_SOURCE[0]}")/reviewers.cpp" >&2
  echo "$work/reviewers"
}
