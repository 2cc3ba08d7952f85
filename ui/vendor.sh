#!/usr/bin/env bash
# Copies the built files of the pinned front-end dependencies (package.json, package-lock.json)
# into www/vendor/, where they are committed: serving the UI needs no npm. Run after changing a
# version, then update THIRD_PARTY.md. Needs node and npm (installs into ui/node_modules).
set -euo pipefail
cd "$(dirname "$0")"
npm ci --ignore-scripts --no-audit --no-fund
m=node_modules
out=www/vendor
rm -rf "$out" && mkdir -p "$out"
cp "$m/preact/dist/preact.mjs" "$out/preact.mjs"
# The hooks import "preact" by its bare name; browsers resolve only relative paths without an
# import map (which would be an inline script, refused by our CSP), so point it at the file.
sed 's#from"preact"#from"./preact.mjs"#' "$m/preact/hooks/dist/hooks.mjs" > "$out/hooks.mjs"
grep -q 'from"./preact.mjs"' "$out/hooks.mjs" || { echo "vendor.sh: hooks.mjs import not rewritten" >&2; exit 1; }
cp "$m/htm/dist/htm.mjs" "$out/htm.mjs"
cp "$m/uplot/dist/uPlot.esm.js" "$out/uPlot.esm.js"
cp "$m/uplot/dist/uPlot.min.css" "$out/uPlot.min.css"
for p in preact htm uplot; do cp "$m/$p/LICENSE" "$out/LICENSE.$p"; done
echo "vendored: $(cd "$out" && ls | tr '\n' ' ')"
