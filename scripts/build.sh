#!/usr/bin/env bash
# Set-up and build: installs system packages (scripts/setup.sh), configures once, builds
# incrementally. BUILD_DIR (default: build) and BUILD_TYPE (default: Release) may be set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
"$root/scripts/setup.sh" >&2
if [[ ! -f "$build_dir/build.ninja" ]]; then
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" >&2
fi
cmake --build "$build_dir" -j "$(nproc)" >&2
