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

# A bound on a case with known MI: TUBA(log a = 1) is NWJ, so it sits below the truth and beside
# NWJ's estimate (an estimate log a too high — the −log a term left out — fails both).
check=$("$harness" query --db "$work/r.db" --format csv "SELECT t.scope, t.value, n.value, tm.value
  FROM case_summaries t JOIN case_summaries n ON n.scope = t.scope AND n.name = 'mean' AND n.objective = 'nwj'
  JOIN case_summaries tm ON tm.scope = t.scope AND tm.name = 'true_mi' AND tm.objective = 'tuba'
  WHERE t.objective = 'tuba' AND t.name = 'mean' ORDER BY t.scope" | tail -n +2)
[[ $(wc -l <<< "$check") == 2 ]] || { echo "expected two levels: $check"; exit 1; }
while IFS=, read -r scope tuba nwj truth; do
  awk -v t="$tuba" -v n="$nwj" -v m="$truth" 'BEGIN { exit !(t <= m + 0.15 && t - n < 0.4 && n - t < 0.4) }' || {
    echo "$scope: tuba $tuba, nwj $nwj, true MI $truth: TUBA is not the NWJ lower bound"; exit 1; }
done <<< "$check"

# The page shows the example's code verbatim.
sed -n '/^```cpp$/,/^```$/p' "$source_dir/docs/writing-an-objective-plugin.md" | sed '1d;$d' \
  | diff - "$source_dir/docs/examples/objective_plugin/tuba.cpp" > /dev/null || {
  echo "docs/writing-an-objective-plugin.md does not show tuba.cpp verbatim"; exit 1; }
echo "out-of-tree plugin: built, loaded and run"
