#!/usr/bin/env bash
# Installs every system package rpcbench needs on Debian 12. Idempotent: exits at once when all
# packages are present (checked with dpkg-query, no network).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ccache clang-format
  libtorch-dev libopenblas0-pthread
  libboost-dev libboost-filesystem-dev
  libtomlplusplus-dev
  xtensor-dev libxtensor-blas-dev
  libsqlite3-dev sqlite3
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libfmt-dev nlohmann-json3-dev
  zlib1g-dev libssl-dev
  dataset-fashion-mnist
  chromium
  slurm-wlm munge
  libespeak-ng-dev espeak-ng-data libsoxr-dev libsndfile1-dev wamerican
  python3-torch  # exports the TorchScript objectives of the tests and docs (not needed at run time)
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
