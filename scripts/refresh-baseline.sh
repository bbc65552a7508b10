#!/usr/bin/env bash
# Deliberately re-records the CI baseline: runs the quick MI suite and exports it as text to
# results/baseline-mi-quick.json. Commit the diff with a note saying why the numbers moved.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh"
harness="${BUILD_DIR:-$root/build}/bin/harness"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$harness" run "$root/suites/mi.toml" --profile quick --quiet --db "$work/baseline.db"
"$harness" export --db "$work/baseline.db" -o "$root/results/baseline-mi-quick.json"
