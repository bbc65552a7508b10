#!/usr/bin/env bash
# One mi-task step, side by side: the harness's C++ (BM_MiStep/separable_256x2_e32/64: one step
# alone; BM_MiEnsemble/separable_256x2_e32_*: the task's own loop, one case at a time and as
# ensembles of 1–32 members, counter member_step = time per member per step) and plain PyTorch (same LibTorch version from Debian's
# python3-torch), same critic, batch 64, objective, optimiser and threads.
#   bench/compare_mi_step.sh [threads]        (builds first; installs python3-torch if missing)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
threads=${1:-1}
"$root/scripts/build.sh"
# Debian's interpreter: python3-torch installs for /usr/bin/python3, not for other pythons on PATH.
python=/usr/bin/python3
if ! "$python" -c "import torch" 2>/dev/null; then
  apt-get install -y -qq --no-install-recommends python3-torch >&2
fi
for round in 1 2; do  # two alternating rounds: drift on a shared machine shows up as disagreement
  RPCBENCH_BENCH_THREADS=$threads "${BUILD_DIR:-$root/build}/bin/rpcbench_bench" \
    --benchmark_filter='BM_MiStep/separable_256x2_e32/64$|BM_MiEnsemble/separable_256x2' --benchmark_min_time=2 \
    2>/dev/null | grep BM_
  "$python" "$root/bench/pytorch_mi_step.py" --threads "$threads" --batch 64 --hidden 256 --embed 32
done
