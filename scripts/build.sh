#!/usr/bin/env bash
# Set-up and build: installs system packages (scripts/setup.sh), configures once, builds
# incrementally. BUILD_DIR (default: build) and BUILD_TYPE (default: Release) may be set.
#
#   scripts/build.sh                        Debian's LibTorch (CPU)
#   scripts/build.sh --torch-from-python    the LibTorch inside the `python3` on PATH (pip/conda
#                                           PyTorch 2.x with CUDA): its CMake config, found with
#                                           torch.utils.cmake_prefix_path
#   scripts/build.sh -DTorch_DIR=/opt/libtorch/share/cmake/Torch   any other LibTorch (the
#                                           download from pytorch.org); other -D options pass on
# A build tree remembers its LibTorch: use another BUILD_DIR for another one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
cmake_args=()
for arg in "$@"; do
  case "$arg" in
    --torch-from-python)
      prefix=$(python3 -c 'import torch, torch.utils; print(torch.utils.cmake_prefix_path)') || {
        echo "build.sh: python3 cannot import torch" >&2; exit 2; }
      cmake_args+=("-DCMAKE_PREFIX_PATH=$prefix")
      # Debian's Boost, fmt and SQLite use the C++11 string ABI: a LibTorch built with the old
      # one (older pip wheels) cannot link with them. Say so now rather than at link time.
      abi=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
      [[ "$abi" == 1 ]] || { echo "build.sh: this PyTorch's LibTorch uses the pre-C++11 string ABI; use a cxx11-ABI LibTorch (pytorch.org 'cxx11 ABI' download, -DTorch_DIR=...)" >&2; exit 2; }
      ;;
    -D*) cmake_args+=("$arg") ;;
    *) echo "build.sh: unknown option '$arg' (--torch-from-python or -DNAME=VALUE)" >&2; exit 2 ;;
  esac
done
"$root/scripts/setup.sh" >&2
if [[ ! -f "$build_dir/build.ninja" || ${#cmake_args[@]} -gt 0 ]]; then
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" "${cmake_args[@]}" >&2
fi
cmake --build "$build_dir" -j "$(nproc)" >&2
