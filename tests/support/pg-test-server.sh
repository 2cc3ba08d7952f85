#!/usr/bin/env bash
# A throw-away PostgreSQL server for the tests (ctest fixture hitl_pg: tests/CMakeLists.txt).
#   pg-test-server.sh start STATE_FILE   initdb into a fresh temp folder, pg_ctl start on a free
#                                        127.0.0.1 port (its unix socket in the same folder), and
#                                        write "url=<libpq URL>" and "dir=<folder>" to STATE_FILE;
#   pg-test-server.sh stop STATE_FILE    stop it and remove the folder.
# PostgreSQL refuses to run as root: as root the server runs as the `postgres` user (Debian's
# package creates it), else as `nobody`, and owns its folder. Without the PostgreSQL binaries,
# start writes "unavailable=<why>" and succeeds: the tests then report themselves SKIPPED
# (tests/support/postgres.hpp). A server that should start but does not fails the fixture, with
# its log, so every test needing it is reported "not run", never passed.
set -euo pipefail
cmd=${1:?usage: pg-test-server.sh start|stop STATE_FILE}
state=${2:?usage: pg-test-server.sh start|stop STATE_FILE}

find_bindir() {
  if [ -n "${HITL_PG_BINDIR:-}" ]; then echo "$HITL_PG_BINDIR"; return; fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return; }
  done
  command -v initdb >/dev/null && dirname "$(command -v initdb)"
  return 0
}

# Runs a command as the server's user (root cannot run PostgreSQL).
as_server_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$server_user" -- "$@"; else "$@"; fi
}

# A port the kernel says is free now (without python3: a random high one; pg_ctl then fails
# loudly if it is taken).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 30000))
}

start() {
  stop  # a server an interrupted run left behind (its state file says where) goes first
  mkdir -p "$(dirname "$state")"
  local bindir; bindir=$(find_bindir)
  if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    echo "unavailable=no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql, or set HITL_PG_BINDIR" > "$state"
    echo "pg-test-server: no PostgreSQL server binaries; the PostgreSQL tests will report themselves skipped"
    return 0
  fi
  server_user=postgres
  id -u postgres >/dev/null 2>&1 || server_user=nobody
  local dir; dir=$(mktemp -d /tmp/hitl-pg-XXXXXX)
  chmod 755 "$dir"
  [ "$(id -u)" = 0 ] && chown "$server_user" "$dir"
  local port; port=$(free_port)
  # trust on loopback and the private socket only: a test server holds nothing worth a password.
  if ! as_server_user "$bindir/initdb" -D "$dir/data" -U hitl --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1; then
    echo "pg-test-server: initdb failed (as $(id -un) -> ${server_user}):"; cat "$dir/initdb.log"; return 1
  fi
  # fsync off: a throw-away server need not survive a power cut, and the tests' commits get fast.
  if ! as_server_user "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" >/dev/null; then
    echo "pg-test-server: pg_ctl start on 127.0.0.1:$port failed:"; cat "$dir/server.log"; rm -rf "$dir"; return 1
  fi
  { echo "url=postgresql://hitl@127.0.0.1:$port/postgres"; echo "dir=$dir"; echo "bindir=$bindir"; echo "user=$server_user"; } > "$state"
  echo "pg-test-server: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir"
}

stop() {
  [ -f "$state" ] || return 0
  local dir bindir
  dir=$(sed -n 's/^dir=//p' "$state"); bindir=$(sed -n 's/^bindir=//p' "$state")
  server_user=$(sed -n 's/^user=//p' "$state")
  if [ -n "$dir" ] && [ -d "$dir/data" ]; then
    as_server_user "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true
    rm -rf "$dir"
  fi
  rm -f "$state"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: pg-test-server.sh start|stop STATE_FILE" >&2; exit 2 ;;
esac
