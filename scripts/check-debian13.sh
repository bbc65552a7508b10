#!/usr/bin/env bash
# The Debian 13 (trixie) check: makes a minimal Debian 13 root with debootstrap from Debian's
# archive, clones this checkout into it and runs the README's test command (scripts/test.sh)
# there, as a new user on a fresh Debian 13 machine would. Needs root (debootstrap, chroot,
# mounts) and the archive; nothing else from this machine is used inside the root.
#
#   scripts/check-debian13.sh            make (or reuse) the root, clone, scripts/test.sh
#   scripts/check-debian13.sh --shell    an interactive shell in the root (mounts made)
#
# Debian 13's CUDA LibTorch (contrib libtorch-cuda-dev) is not built here: it depends on
# nvidia-cudnn, whose install script downloads cuDNN from developer.nvidia.com, which a machine
# that reaches only Debian's archive cannot do (README: Debian 13).
#
# ROOT (default /var/tmp/rpcbench-debian13) is kept between runs: debootstrap runs once, the
# clone is refreshed to this checkout's HEAD (plus its uncommitted changes to tracked files) and
# the build inside is incremental. MIRROR (default http://deb.debian.org/debian) may be set.
# Exit status: the test command's.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=${ROOT:-/var/tmp/rpcbench-debian13}
mirror=${MIRROR:-http://deb.debian.org/debian}
shell=0
for arg in "$@"; do
  case "$arg" in
    --shell) shell=1 ;;
    *) echo "check-debian13.sh: unknown option '$arg' (--shell)" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "check-debian13.sh: needs root (debootstrap, chroot, mount)" >&2; exit 2; }

log() { echo "check-debian13: $*" >&2; }

if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2; }
fi

if [[ ! -f "$root/.rpcbench-root-ready" ]]; then
  log "debootstrap trixie (minbase) into $root from $mirror"
  rm -rf "$root"
  debootstrap --variant=minbase --components=main,contrib,non-free,non-free-firmware \
    trixie "$root" "$mirror" >&2
  # Services are not started inside the root (munge, slurm start their own daemons in the tests).
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod +x "$root/usr/sbin/policy-rc.d"
  cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror trixie main contrib non-free non-free-firmware
deb $mirror trixie-updates main contrib non-free non-free-firmware
deb http://deb.debian.org/debian-security trixie-security main contrib non-free non-free-firmware
EOF
  touch "$root/.rpcbench-root-ready"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -R -l "${mounted[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
bind() { # bind a host file system into the root, as a slave so nothing propagates back
  mountpoint -q "$root$1" && return 0
  mkdir -p "$root$1"
  mount --rbind "$1" "$root$1"
  mount --make-rslave "$root$1"
  mounted+=("$root$1")
}
mountpoint -q "$root/proc" || { mount -t proc proc "$root/proc"; mounted+=("$root/proc"); }
bind /sys
bind /dev

in_root() {
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

if ((shell)); then in_root bash -l; exit; fi

# git for the clone (scripts/setup.sh installs the rest, as on a new machine)
in_root bash -c 'command -v git >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends git ca-certificates; }' >&2

log "cloning $repo ($(git -C "$repo" rev-parse --short HEAD)) into $root/root/rpcbench"
clone="$root/root/rpcbench"
if [[ ! -d "$clone/.git" ]]; then
  git clone -q --no-hardlinks "$repo" "$clone"
fi
git -C "$clone" fetch -q "$repo" HEAD
git -C "$clone" reset -q --hard FETCH_HEAD
git -C "$clone" clean -q -fdx -e build
if ! git -C "$repo" diff --quiet HEAD; then
  log "applying this checkout's uncommitted changes to tracked files"
  git -C "$repo" diff HEAD --binary | git -C "$clone" apply --whitespace=nowarn
fi

log "Debian $(cat "$root/etc/debian_version"); running scripts/test.sh (the README's test command)"
start=$(date +%s)
set +e
in_root bash -c 'cd /root/rpcbench && scripts/test.sh'
rc=$?
set -e
log "scripts/test.sh exit $rc in $(($(date +%s) - start)) s"
in_root bash -c 'dpkg-query -W -f="\${Package} \${Version}\n" libtorch-dev slurm-wlm libespeak-ng1 python3-torch 2>/dev/null' >&2 || true

exit "$rc"
