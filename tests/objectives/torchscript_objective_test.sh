#!/usr/bin/env bash
# The torchscript objective end to end through the harness, on modules Python exports now with the
# code of docs/writing-an-objective-in-python.md:
#   1. the page's suite runs its three Python objectives beside the built-in infonce;
#   2. the page's InfoNCE and the built-in infonce, same suite key and seed, on the quick MI suite:
#      per-level MI means equal within 1e-6;
#   3. the run's provenance holds the module's SHA-256 (= sha256sum) and its scripted code;
#   4. each bad module (and a missing file) exits 2 before any work, naming the problem, and
#      leaves no run in the database.
#   torchscript_objective_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$1
source_dir=$2
harness="$build_dir/bin/harness"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python=${PYTHON:-/usr/bin/python3}

"$source_dir/tests/objectives/torchscript/export_modules.sh" "$work" "$source_dir"
count() { sqlite3 "$1" "$2"; }

# 1. The docs' suite, as the page shows it, beside the files the page's export command wrote.
"$harness" run "$work/suite.toml" --db "$work/docs.db" --quiet > "$work/docs.log" 2>&1 || {
  cat "$work/docs.log"; exit 1; }
n=$(count "$work/docs.db" "SELECT count(*) FROM cases WHERE status = 'finished'")
[[ "$n" == 4 ]] || { echo "docs suite: expected 4 finished cases, got $n"; cat "$work/docs.log"; exit 1; }
# Bounds below the truth at the 1 nat level (InfoNCE, TUBA/NWJ; MINE's DV read-out is noisier).
bad=$(count "$work/docs.db" "SELECT objective || ' ' || scope || ' ' || value FROM case_summaries
  WHERE name = 'mean' AND scope = (SELECT min(scope) FROM case_summaries WHERE name = 'true_mi')
  AND objective IN ('infonce_py', 'tuba_py') AND (value > 1.15 OR value < 0.5)")
[[ -z "$bad" ]] || { echo "docs suite: estimates off at MI 1: $bad"; exit 1; }

# 2. suites/mi.toml's quick profile with infonce as its only objective, then the same entry as the
# docs' module under the same label: the same case keys, so the same seeds.
"$python" - "$source_dir/suites/mi.toml" "$work" <<'EOF'
import re
import sys

text = open(sys.argv[1]).read()
# Blocks start at table headers; keep everything but the other objectives, gates and evidence.
blocks = re.split(r"(?m)^(?=\[)", text)
kept = []
for b in blocks:
    if b.startswith("[[gates]]"):
        continue
    if b.startswith("[[objectives]]") and 'plugin = "infonce"' not in b:
        continue
    kept.append(b)
builtin = re.sub(r"(?m)^evidence = .*\n", "", "".join(kept))
assert builtin.count("[[objectives]]") == 1, builtin
script = builtin.replace('plugin = "infonce"\n',
                         'plugin = "torchscript"\nlabel = "infonce"\npath = "infonce.pt"\n')
open(f"{sys.argv[2]}/mi_builtin.toml", "w").write(builtin)
open(f"{sys.argv[2]}/mi_script.toml", "w").write(script)
EOF
for which in builtin script; do
  "$harness" run "$work/mi_$which.toml" --profile quick --db "$work/$which.db" --quiet > "$work/$which.log" 2>&1 || {
    cat "$work/$which.log"; exit 1; }
done
compare="ATTACH '$work/script.db' AS s;
  SELECT a.dataset, a.scope, a.value, b.value, abs(a.value - b.value) FROM main.case_summaries a
  JOIN s.case_summaries b ON b.dataset = a.dataset AND b.scope = a.scope AND b.name = a.name
  WHERE a.name = 'mean' AND a.objective = 'infonce' AND b.objective = 'infonce' ORDER BY a.dataset, a.scope"
rows=$(sqlite3 -separator ' ' "$work/builtin.db" "$compare")
echo "per-level MI means (dataset, level, built-in, scripted, |difference|):"
echo "$rows"
[[ $(wc -l <<< "$rows") == 10 ]] || { echo "expected 2 datasets x 5 levels"; exit 1; }
awk '{ if ($5 > 1e-6) { print "differ by more than 1e-6: " $0; bad = 1 } } END { exit bad }' <<< "$rows"
seeds=$(sqlite3 "$work/builtin.db" "ATTACH '$work/script.db' AS s; SELECT count(*) FROM main.cases a
  JOIN s.cases b ON b.case_key = a.case_key AND b.seed = a.seed WHERE a.status = 'finished' AND b.status = 'finished'")
[[ "$seeds" == 2 ]] || { echo "expected the same 2 finished cases and seeds in both runs, got $seeds"; exit 1; }

# 3. Provenance of the scripted run.
key='$."objective.infonce.module_sha256"'
recorded=$(sqlite3 "$work/script.db" "SELECT json_extract(provenance, '$key') FROM runs")
expected=$(sha256sum "$work/infonce.pt" | cut -d' ' -f1)
[[ "$recorded" == "$expected" ]] || { echo "module_sha256: recorded '$recorded', file $expected"; exit 1; }
same=$(sqlite3 "$work/script.db" "SELECT json_extract(provenance, '$.\"objective.infonce.module_code\"')
  = CAST(readfile('$work/infonce.code.txt') AS TEXT) FROM runs")
[[ "$same" == 1 ]] || { echo "module_code is not Python's scripted.code"; exit 1; }
# The case config holds the file as written and its hash too.
config=$(sqlite3 "$work/script.db" "SELECT DISTINCT json_extract(config_text, '$.objective.params.path.sha256') FROM cases")
[[ "$config" == "$expected" ]] || { echo "case config: path hash '$config', file $expected"; exit 1; }

# 4. Refused before any work, exit 2, nothing written: each case on a database that has a run.
runs_before=$(count "$work/docs.db" "SELECT count(*) FROM runs")
refuse() {  # refuse FILE EXPECTED-MESSAGE [ATTRIBUTES]
  local suite="$work/bad.toml" expected
  sed -n '1,/^\[\[objectives\]\]/p' "$work/suite.toml" | sed '$d' > "$suite"
  printf '[[objectives]]\nplugin = "torchscript"\nlabel = "bad"\npath = "%s"\nattributes = "%s"\n' "$1" "${3:-}" >> "$suite"
  expected=${2//@PATH_LINE@/$(($(wc -l < "$suite") - 1))}  # path is the entry's last line but one
  local rc=0
  "$harness" run "$suite" --db "$work/docs.db" --quiet > "$work/bad.log" 2>&1 || rc=$?
  [[ $rc == 2 ]] || { echo "$1: exit $rc, expected 2"; cat "$work/bad.log"; exit 1; }
  grep -qF -- "$expected" "$work/bad.log" || { echo "$1: message does not say '$expected':"; cat "$work/bad.log"; exit 1; }
  local runs
  runs=$(count "$work/docs.db" "SELECT count(*) FROM runs")
  [[ "$runs" == "$runs_before" ]] || { echo "$1: a run was written ($runs_before -> $runs)"; exit 1; }
  echo "refused $1: $(grep -m1 -F -- "$expected" "$work/bad.log")"
}
refuse missing.pt "bad.toml:@PATH_LINE@:8: objective 'bad': parameter 'path': no file '$work/missing.pt'"
refuse text.pt "is not a TorchScript archive"
refuse tensor.pt "is not a TorchScript module LibTorch"
refuse wrong_arity.pt "found forward(pos: Tensor) -> Tuple[Tensor, Tensor]"
refuse wrong_returns.pt "found forward(pos: Tensor, neg: Tensor) -> Tensor"
refuse wrong_diagnostics.pt "found forward(pos: Tensor, neg: Tensor) -> Tuple[Tensor, Tensor, Dict[str, float]]"
refuse not_scalar.pt "forward's loss must be a scalar; found shape [4]"
refuse no_gradient.pt "forward's loss carries no gradient"
refuse learnable.pt "has learnable parameters (log_temperature)"
refuse newer_format.pt "its archive format is version 11, LibTorch 1.13"
refuse newer_torch.pt "was saved by PyTorch 2.1.0, newer than this harness's LibTorch 1.13"
refuse infonce.pt "no attribute 'tau' (settable: temperature)" "tau=2"
echo "torchscript objective: docs suite, equality with infonce, provenance and refusals checked"
