#!/usr/bin/env bash
# Installs the Debian 12 packages hitl needs to build, test and run, when they are missing.
# Usage: scripts/dev/install-deps.sh [build|test|bench]   (test adds what the test suite uses,
# bench what make bench drives: wrk and the Python reference's FastAPI)
set -euo pipefail
mode=${1:-build}
pkgs=(cmake ninja-build g++ ccache pkg-config make curl
      liblua5.4-dev libboost-dev libsqlitecpp-dev libsqlite3-dev libspdlog-dev libfmt-dev
      nlohmann-json3-dev libssl-dev libcli11-dev catch2 libxgboost-dev libmimalloc-dev
      libpqxx-dev)  # storage-postgres, queue-postgres (HITL_WITH_POSTGRES)
if [ "$mode" = test ]; then
  pkgs+=(python3 prometheus)  # prometheus: promtool checks the /metrics text format
  pkgs+=(chromium)            # the browser tests (tests/browser) drive it headless
  pkgs+=(postgresql)          # initdb/pg_ctl: the tests' throw-away server (tests/support/pg-test-server.sh)
  # node and npm run the browser tests; a machine may have them from elsewhere (nodesource),
  # whose nodejs package brings npm: Debian's are installed only when the commands are missing.
  command -v node >/dev/null || pkgs+=(nodejs)
  command -v npm >/dev/null || pkgs+=(npm)
fi
if [ "$mode" = bench ]; then
  pkgs+=(wrk python3 python3-fastapi python3-uvicorn)  # tests/bench/bench.sh, ../shared/bench/peer.py
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ "$mode" = test ]; then
  # puppeteer-core for the browser tests, as package-lock.json pins it, when what is installed
  # does not match package.json (npm ls fails on a missing or different version).
  browser="$(cd "$(dirname "$0")/../../tests/browser" && pwd)"
  if ! (cd "$browser" && npm ls --depth=0 >/dev/null 2>&1); then
    echo "installing the browser tests' npm packages (tests/browser/package-lock.json)"
    (cd "$browser" && npm ci --ignore-scripts --no-audit --no-fund)
  fi
fi
