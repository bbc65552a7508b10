#!/usr/bin/env bash
# The torchscript objective end to end through the harness, on modules Python exports now with the
# code of docs/writing-an-objective-in-python.md:
#   1. the page's suite runs its three Python objectives beside the built-in infonce;
#   2. the page's InfoNCE and the built-in infonce, same suite key and seed, on the quick MI suite:
#      per-level MI means equal within 1e-6 (compared in SQL: a NULL, which is how SQLite stores
#      NaN, fails the check, and so does a missing level);
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
# Bounds below the truth at the 1 nat level (InfoNCE, TUBA/NWJ; MINE's DV read-out is noisier):
# both means present and in range; a NULL (NaN) is out of range.
level1="FROM case_summaries WHERE name = 'mean' AND objective IN ('infonce_py', 'tuba_py')
  AND scope = (SELECT min(scope) FROM case_summaries WHERE name = 'true_mi')"
checked=$(count "$work/docs.db" "SELECT count(*) $level1")
[[ "$checked" == 2 ]] || { echo "docs suite: expected 2 means at MI 1, got $checked"; exit 1; }
bad=$(count "$work/docs.db" "SELECT count(*) $level1 AND (value IS NULL OR value > 1.15 OR value < 0.5)")
[[ "$bad" == 0 ]] || {
  echo "docs suite: estimates off at MI 1:"
  count "$work/docs.db" "SELECT objective, scope, value $level1"; exit 1; }

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
# Both runs' levels, joined both ways (a level one run lacks is a NULL on its side).
attach="ATTACH '$work/script.db' AS s;"
pairs="WITH a AS (SELECT dataset, scope, value FROM main.case_summaries WHERE name = 'mean' AND objective = 'infonce'),
       b AS (SELECT dataset, scope, value FROM s.case_summaries WHERE name = 'mean' AND objective = 'infonce'),
       levels AS (SELECT dataset, scope FROM a UNION SELECT dataset, scope FROM b)
  SELECT l.dataset, l.scope, a.value AS builtin, b.value AS scripted,
         abs(a.value - b.value) AS difference FROM levels l
  LEFT JOIN a ON a.dataset = l.dataset AND a.scope = l.scope
  LEFT JOIN b ON b.dataset = l.dataset AND b.scope = l.scope"
echo "per-level MI means (dataset, level, built-in, scripted, |difference|; NULL: NaN or missing):"
sqlite3 -separator ' ' -nullvalue NULL "$work/builtin.db" "$attach $pairs ORDER BY l.dataset, l.scope"
levels=$(sqlite3 "$work/builtin.db" "$attach SELECT count(*) FROM ($pairs)")
[[ "$levels" == 10 ]] || { echo "expected 2 datasets x 5 levels, got $levels"; exit 1; }
differ=$(sqlite3 "$work/builtin.db" "$attach SELECT count(*) FROM ($pairs)
  WHERE builtin IS NULL OR scripted IS NULL OR difference > 1e-6")
[[ "$differ" == 0 ]] || { echo "$differ of $levels levels missing, NaN or differing by more than 1e-6"; exit 1; }
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
refuse not_scalar.pt "forward's loss must be a scalar; found shape [16]"
refuse no_gradient.pt "forward's loss carries no gradient"
refuse learnable.pt "has learnable parameters (log_temperature)"
refuse inplace_state.pt "has been modified by an inplace operation"
refuse topk.pt "RuntimeError: selected index k out of range (at: hardest = torch.topk(neg, self.k, 1)[0])"
refuse metric_named_diagnostic.pt "forward's diagnostic 'grad_norm' is named like a metric"
# python3-torch and libtorch-dev are one Debian source package: its version is the harness's.
torch_major_minor=$("$python" -c 'import torch; print(".".join(torch.__version__.split(".")[:2]))')
next_minor=$("$python" -c 'import torch; a, b = torch.__version__.split(".")[:2]; print(f"{a}.{int(b) + 1}.0")')
refuse unknown_op.pt "possibly saved by a newer PyTorch than this harness's LibTorch $torch_major_minor"
refuse newer_format.pt "its archive format is version 11, LibTorch $torch_major_minor"
refuse newer_torch.pt "was saved by PyTorch $next_minor, newer than this harness's LibTorch $torch_major_minor"
refuse infonce.pt "no attribute 'tau' (settable: temperature)" "tau=2"
echo "torchscript objective: docs suite, equality with infonce, provenance and refusals checked"
