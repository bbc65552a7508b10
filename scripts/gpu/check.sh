#!/usr/bin/env bash
# For a machine with an NVIDIA GPU and PyTorch (2.x, CUDA) in its python3: builds rpcbench against
# that PyTorch's LibTorch (build-gpu/), runs the quick MI and vision profiles on the GPU and on its
# CPU, and compares the two runs metric by metric (`harness compare --all`), with the step times.
#
#   scripts/gpu/check.sh [OUT_DIR]          (default results/gpu-check)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/results/gpu-check}
mkdir -p "$out"
BUILD_DIR="$root/build-gpu" "$root/scripts/build.sh" --torch-from-python
harness="$root/build-gpu/bin/harness"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
for suite in mi vision; do
  for device in cuda cpu; do
    start=$(date +%s.%N)
    "$harness" run "$root/suites/$suite.toml" --profile quick --device "$device" --quiet --db "$out/$suite-$device.db" \
      > "$out/$suite-$device.txt"
    echo "$suite on $device: $(echo "$(date +%s.%N) - $start" | bc) s" | tee -a "$out/times.txt"
  done
  # GPU and CPU kernels round differently: the comparison shows how far the metrics move.
  "$harness" compare "$out/$suite-cpu.db" "$out/$suite-cuda.db" --all > "$out/$suite-compare.txt" || true
  "$harness" query --db "$out/$suite-cuda.db" -f csv \
    "SELECT c.case_key, s.name, s.value FROM summaries s JOIN cases c USING (case_id) WHERE s.name IN ('steps_per_second', 'images_per_second')" \
    > "$out/$suite-cuda-rates.csv"
done
echo "gpu check: databases, comparisons and times in $out"
