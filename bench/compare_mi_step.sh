#!/usr/bin/env bash
# One mi-task step, side by side: the harness's C++ (BM_MiStep/separable_256x2_e32/64: one step
# alone; BM_MiEnsemble/separable_256x2_e32_*: the task's own loop, one case at a time and as
# ensembles of 1–32 members, counter member_step = time per member per step) and plain PyTorch
# (the same LibTorch from Debian's python3-torch), same critic, batch 64, objective, optimiser, threads.
#   bench/compare_mi_step.sh [threads]        (builds first; the set-up installs python3-torch)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
threads=${1:-1}
"$root/scripts/build.sh"
# Debian's interpreter: python3-torch (installed by build.sh's set-up) is for /usr/bin/python3,
# not for other pythons on PATH.
python=/usr/bin/python3
for round in 1 2; do  # two alternating rounds: drift on a shared machine shows up as disagreement
  RPCBENCH_BENCH_THREADS=$threads "${BUILD_DIR:-$root/build}/bin/rpcbench_bench" \
    --benchmark_filter='BM_MiStep/separable_256x2_e32/64$|BM_MiEnsemble/separable_256x2' --benchmark_min_time=2 \
    2>/dev/null | grep BM_
  "$python" "$root/bench/pytorch_mi_step.py" --threads "$threads" --batch 64 --hidden 256 --embed 32
done
