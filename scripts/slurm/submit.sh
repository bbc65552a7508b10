#!/usr/bin/env bash
# Runs a suite on a SLURM cluster: a job array of N shards (`harness run --shard I/N`, each into
# its own database), then a job that depends on all of them and merges the shards into one
# database (`harness merge`; each shard's run keeps its provenance).
#
#   scripts/slurm/submit.sh SUITE SHARDS OUT.db [harness run options...]
#
# Environment: HARNESS (default build/bin/harness), WORK (default: a new folder per submission,
# OUT.db's folder/slurm-<name>-<time>),
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
work=${WORK:-$(dirname "$out")/slurm-$(basename "$out" .db)-$(date +%Y%m%d-%H%M%S)}
# A fresh folder: shards of an earlier submission must not join this one's merge.
if [[ -e "$work" && -n "$(ls -A "$work")" ]]; then echo "submit.sh: '$work' is not empty (set another WORK)"; exit 2; fi
mkdir -p "$work"
# Input errors in the suite surface here, before anything is queued.
profile=()
for ((i = 1; i <= $#; ++i)); do
  [[ "${!i}" == --profile || "${!i}" == -p ]] && { j=$((i + 1)); profile=(--profile "${!j}"); }
done
"$harness" list cases "$suite" "${profile[@]}" > "$work/cases.txt"

# The two job scripts, written into the work folder (so a job's command can be read back).
{
  echo '#!/usr/bin/env bash'
  echo 'set -eu'
  printf 'exec %q run %q --shard "$SLURM_ARRAY_TASK_ID/%d" --db %q/shard-"$SLURM_ARRAY_TASK_ID".db --quiet' \
    "$harness" "$suite" "$shards" "$work"
  printf ' %q' "$@"
  echo
} > "$work/shard.sh"
{
  echo '#!/usr/bin/env bash'
  echo 'set -eu'
  echo '# The shards that produced a database (a crashed one has none; the merge then says a part is missing).'
  echo 'files=()'
  printf 'for i in $(seq 0 %d); do [[ -f %q/shard-$i.db ]] && files+=(%q/shard-$i.db); done\n' "$((shards - 1))" "$work" "$work"
  printf 'exec %q merge "${files[@]}" -o %q\n' "$harness" "$out"
} > "$work/merge.sh"
chmod +x "$work/shard.sh" "$work/merge.sh"
array=$(sbatch --parsable ${SBATCH_OPTIONS:-} --job-name=rpcbench-shard --array=0-$((shards - 1)) \
  --output="$work/shard-%a.log" "$work/shard.sh")
# afterany: a shard whose case failed exits 1 but holds results; the merge says what is missing.
merge=$(sbatch --parsable ${SBATCH_OPTIONS:-} --job-name=rpcbench-merge --dependency=afterany:"$array" \
  --output="$work/merge.log" "$work/merge.sh")
echo "array job $array ($shards shards, logs in $work), merge job $merge → $out"
