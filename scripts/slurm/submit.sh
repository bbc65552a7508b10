#!/usr/bin/env bash
# Runs a suite on a SLURM cluster: a job array of N shards (`harness run --shard I/N`, each into
# its own database), then a job that depends on all of them and merges the shards into one
# database (`harness merge`; each shard's run keeps its provenance).
#
#   scripts/slurm/submit.sh SUITE SHARDS OUT.db [harness run options...]
#
# Environment: HARNESS (default build/bin/harness), WORK (default OUT.db's folder/slurm-<name>),
# SBATCH_OPTIONS (extra sbatch options, e.g. "--partition=gpu --gres=gpu:1 --time=04:00:00").
# Prints the array job id and the merge job id; the merged database appears when the second ends.
set -euo pipefail
[[ $# -ge 3 ]] || { sed -n '2,12p' "$0"; exit 2; }
suite=$(realpath "$1") shards=$2 out=$(realpath -m "$3")
shift 3
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || { echo "submit.sh: SHARDS must be a positive integer, got '$shards'"; exit 2; }
[[ -f "$suite" ]] || { echo "submit.sh: no suite file '$suite'"; exit 2; }
[[ -d "$(dirname "$out")" ]] || { echo "submit.sh: the folder of '$out' does not exist"; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
harness=$(realpath "${HARNESS:-$root/build/bin/harness}")
[[ -x "$harness" ]] || { echo "submit.sh: no harness at '$harness' (build it, or set HARNESS)"; exit 2; }
work=${WORK:-$(dirname "$out")/slurm-$(basename "$out" .db)}
mkdir -p "$work"
# Input errors in the suite surface here, before anything is queued.
profile=()
for ((i = 1; i <= $#; ++i)); do
  [[ "${!i}" == --profile || "${!i}" == -p ]] && { j=$((i + 1)); profile=(--profile "${!j}"); }
done
"$harness" list cases "$suite" "${profile[@]}" > "$work/cases.txt"

args=$(printf ' %q' "$@")
array=$(sbatch --parsable ${SBATCH_OPTIONS:-} --job-name=rpcbench-shard --array=0-$((shards - 1)) \
  --output="$work/shard-%a.log" --wrap "$(printf '%q' "$harness") run $(printf '%q' "$suite") --shard \$SLURM_ARRAY_TASK_ID/$shards --db $(printf '%q' "$work")/shard-\$SLURM_ARRAY_TASK_ID.db --quiet$args")
merge=$(sbatch --parsable ${SBATCH_OPTIONS:-} --job-name=rpcbench-merge --dependency=afterok:"$array" \
  --output="$work/merge.log" --wrap "$(printf '%q' "$harness") merge $(printf '%q' "$work")/shard-*.db -o $(printf '%q' "$out")")
echo "array job $array ($shards shards, logs in $work), merge job $merge → $out"
