#!/usr/bin/env bash
# Installs the harness and its SDK into a temporary prefix, builds the documented example plugin
# out of tree against it, drops it in with --plugins, and runs a suite that uses it.
set -euo pipefail
build_dir=$1
source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build_dir" --prefix "$work/prefix" > "$work/install.log"
cmake -S "$source_dir/docs/examples/objective_plugin" -B "$work/build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log"
cmake --build "$work/build" > "$work/build.log" || { cat "$work/build.log"; exit 1; }

harness="$work/prefix/bin/harness"
# (Output captured first: grep -q closing the pipe early would fail the pipeline under pipefail.)
listed=$("$harness" list plugins --plugins "$work/build")
grep -q "^objective tuba" <<< "$listed" || { echo "tuba not listed: $listed"; exit 1; }
# The installed harness finds its own plugins under ../lib/rpcbench/plugins.
listed=$("$harness" list plugins)
grep -q "^objective rpc " <<< "$listed" || { echo "installed plugins not found: $listed"; exit 1; }
RPCBENCH_PLUGIN_PATH="$work/build" "$harness" run "$source_dir/docs/examples/objective_plugin/suite.toml" \
  --db "$work/r.db" --threads 1 --quiet > "$work/run.log"
grep -q "tuba" "$work/run.log" || { cat "$work/run.log"; exit 1; }
n=$("$harness" query --db "$work/r.db" --format csv "SELECT count(*) AS n FROM cases WHERE objective = 'tuba' AND status = 'finished'" | tail -1)
[[ "$n" == "1" ]] || { echo "expected one finished tuba case, got $n"; exit 1; }

# The page shows the example's code verbatim.
sed -n '/^```cpp$/,/^```$/p' "$source_dir/docs/writing-an-objective-plugin.md" | sed '1d;$d' \
  | diff - "$source_dir/docs/examples/objective_plugin/tuba.cpp" > /dev/null || {
  echo "docs/writing-an-objective-plugin.md does not show tuba.cpp verbatim"; exit 1; }
echo "out-of-tree plugin: built, loaded and run"
