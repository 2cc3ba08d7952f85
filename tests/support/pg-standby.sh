#!/usr/bin/env bash
# A hot standby (a read replica) of a server pg-test-server.sh started, on this machine:
#   pg-standby.sh start PRIMARY_STATE STANDBY_STATE   pg_basebackup -R of the primary into its
#                                                     folder, started read-only on a free loopback
#                                                     port; writes "url=<libpq URL of database
#                                                     postgres>" and "dir=<folder>" to STANDBY_STATE
#   pg-standby.sh stop STANDBY_STATE                  stop it and remove its folder
# It streams the primary's WAL from then on (what it replays lags the primary's commits). For the
# tests and benches of read replicas for reports (docs/deploy.md); as root it runs as the
# primary's server user, like the primary.
set -euo pipefail
cmd=${1:?usage: pg-standby.sh start PRIMARY_STATE STANDBY_STATE | stop STANDBY_STATE}

field() { sed -n "s/^$1=//p" "$2"; }
as_server_user() { if [ "$(id -u)" = 0 ]; then runuser -u "$server_user" -- "$@"; else "$@"; fi; }

start() {
  local primary=$1 state=$2
  local url bindir pdir
  url=$(field url "$primary"); bindir=$(field bindir "$primary"); pdir=$(field dir "$primary")
  server_user=$(field user "$primary")
  [ -n "$url" ] || { echo "pg-standby: $primary names no running server"; return 1; }
  local dir="$pdir/standby"
  as_server_user "$bindir/pg_basebackup" -D "$dir" -R -X stream -d "$url" >/dev/null
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  # max_connections as the primary's: a standby refuses to run with fewer.
  if ! as_server_user "$bindir/pg_ctl" -D "$dir" -l "$pdir/standby.log" -w -t 60 start \
        -o "-p $port -k $pdir -c listen_addresses=127.0.0.1 -c fsync=off -c hot_standby=on -c max_connections=200" >/dev/null; then
    echo "pg-standby: the standby did not start:"; cat "$pdir/standby.log"; return 1
  fi
  { echo "url=postgresql://hitl@127.0.0.1:$port/postgres"; echo "dir=$dir"; echo "bindir=$bindir"; echo "user=$server_user"; } > "$state"
}

stop() {
  local state=$1
  [ -f "$state" ] || return 0
  local dir bindir
  dir=$(field dir "$state"); bindir=$(field bindir "$state"); server_user=$(field user "$state")
  if [ -n "$dir" ] && [ -d "$dir" ]; then
    as_server_user "$bindir/pg_ctl" -D "$dir" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
  fi
  rm -f "$state"
}

case "$cmd" in
  start) start "${2:?PRIMARY_STATE}" "${3:?STANDBY_STATE}" ;;
  stop) stop "${2:?STANDBY_STATE}" ;;
  *) echo "usage: pg-standby.sh start PRIMARY_STATE STANDBY_STATE | stop STANDBY_STATE"; exit 2 ;;
esac
