#!/usr/bin/env bash
# Set-up, build, then the whole test suite (GoogleTest under ctest, and the out-of-tree SDK test).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh"
cd "${BUILD_DIR:-$root/build}"
ctest --output-on-failure -j "$(nproc)" "$@"
