#!/usr/bin/env bash
# The CI regression gate: runs the quick MI suite and compares it with the committed baseline
# under the suite's [[gates]]. Exit 1 on a regression.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
harness="${BUILD_DIR:-$root/build}/bin/harness"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$harness" run "$root/suites/mi.toml" --profile quick --quiet --db "$work/ci.db"
"$harness" compare "$root/results/baseline-mi-quick.json" "$work/ci.db"
