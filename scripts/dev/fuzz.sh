#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for a bounded time.
# Usage: scripts/dev/fuzz.sh BUILD_DIR SECONDS TARGET...
# Seeds come from tests/fuzz/corpus/<target>/ (never written to); new inputs go to
# BUILD_DIR/corpus/<target>/, crashes to BUILD_DIR/crashes/<target>/. Exit 1 on any crash.
set -euo pipefail
build=$1; seconds=$2; shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)
need=()
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" != 0 ] && sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
fi
if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHITL_FUZZ=ON
fi
cmake --build "$build" --target $(printf 'fuzz-%s ' "$@")
failed=0
for t in "$@"; do
  mkdir -p "$build/corpus/$t" "$build/crashes/$t"
  # The example config is a seed too, kept where it lives rather than copied into the corpus.
  [ "$t" = config_loader ] && cp -n "$root/examples/credit_risk/hitl.lua" "$build/corpus/$t/example.lua"
  log="$build/fuzz-$t.log"
  echo "== fuzz-$t for ${seconds}s"
  set +e
  "$build/tests/fuzz/fuzz-$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$build/crashes/$t/" \
    "$build/corpus/$t" "$root/tests/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "$log" || true
  grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true
  if [ $rc -ne 0 ]; then
    failed=1
    echo "fuzz-$t FAILED (exit $rc): see $log and $build/crashes/$t/"
    grep -E 'ERROR|SUMMARY|==[0-9]+==' "$log" | head -5 || true
  else
    echo "fuzz-$t: no crash in ${seconds}s"
  fi
done
exit $failed
