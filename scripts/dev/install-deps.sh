#!/usr/bin/env bash
# Installs the Debian 12 packages hitl needs to build, test and run, when they are missing.
# Usage: scripts/dev/install-deps.sh [build|test]   (test adds what the test suite uses)
set -euo pipefail
mode=${1:-build}
pkgs=(cmake ninja-build g++ ccache pkg-config make curl
      liblua5.4-dev libboost-dev libsqlitecpp-dev libsqlite3-dev libspdlog-dev libfmt-dev
      nlohmann-json3-dev libssl-dev libcli11-dev catch2 libxgboost-dev)
if [ "$mode" = test ]; then
  pkgs+=(python3 prometheus)  # prometheus: promtool checks the /metrics text format
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
