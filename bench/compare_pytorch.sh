#!/usr/bin/env bash
# One contrastive pretraining step, side by side: the harness's C++ (BM_ContrastiveTrainStep) and
# plain PyTorch (same LibTorch version from Debian's python3-torch), same model, batch, threads.
#   bench/compare_pytorch.sh [threads]        (builds first; the set-up installs python3-torch)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
threads=${1:-2}
"$root/scripts/build.sh"
# Debian's interpreter: python3-torch (installed by build.sh's set-up) is for /usr/bin/python3,
# not for other pythons on PATH.
python=/usr/bin/python3
for round in 1 2; do  # two alternating rounds: drift on a shared machine shows up as disagreement
  RPCBENCH_BENCH_THREADS=$threads "${BUILD_DIR:-$root/build}/bin/rpcbench_bench" \
    --benchmark_filter=BM_ContrastiveTrainStep --benchmark_min_time=3 2>/dev/null | grep BM_
  "$python" "$root/bench/pytorch_contrastive_step.py" --threads "$threads" --batch 256 --steps 20
done
