# Shared by the PostgreSQL benchmark scripts of tests/bench/ (sourced; figures, not pass/fail):
# the tests' throw-away server (tests/support/pg-test-server.sh: loopback, fsync=off) whose state
# file is $work/pg.state. Expects $here (the clone) and $work (made mode 755: run as root, the
# server runs as a user of its own and must reach its folder).

pg_field() { sed -n "s/^$1=//p" "${2:-$work/pg.state}"; }  # pg_field NAME [STATE]: url, dir, bindir, user

pg_start() {  # starts the server; sets server_url, or says why there is none and exits
  "$here/tests/support/pg-test-server.sh" start "$work/pg.state" >/dev/null
  server_url=$(pg_field url)
  [ -n "$server_url" ] || { echo "no PostgreSQL: $(cat "$work/pg.state")"; exit 1; }
}

pg_stop() { "$here/tests/support/pg-test-server.sh" stop "$work/pg.state" >/dev/null 2>&1 || true; }

pg_config() {  # pg_config SRC DST: the example's config SRC with storage and queue on HITL_PG_URL
  sed -e 's|^  storage = .*|  storage = { plugin = "postgres", config = { url = env("HITL_PG_URL") } },|' \
      -e 's|^  queue   = .*|  queue   = { plugin = "postgres", config = { url = env("HITL_PG_URL") } },|' "$1" > "$2"
}
