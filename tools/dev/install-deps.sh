#!/usr/bin/env bash
# Installs what banger needs to build, test and run on Debian 12, if missing.
# Idempotent: does nothing when every package is already installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config binutils clang-format
  libboost-dev libboost-program-options-dev nlohmann-json3-dev
  liblmdb-dev libmsgpack-cxx-dev libsqlite3-dev libnftables-dev nftables iptables
  libgtest-dev libgmock-dev libbenchmark-dev
  curl iproute2 procps
  clang-14 libclang-rt-14-dev
  abigail-tools util-linux
  prometheus systemd man-db groff-base dpkg-dev
  python3 containernetworking-plugins
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root (or: sudo $0)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
