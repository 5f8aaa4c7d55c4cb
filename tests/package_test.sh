#!/usr/bin/env bash
# The Debian packages, installed as an operator would: built (tools/dev/
# package.sh), installed with dpkg on this machine, the files checked, the
# programs run against the installed config, the unit verified by systemd,
# the SDK found by pkg-config, then purged: nothing of either may be left.
# Needs root; run by tools/dev/test.sh (CI) after the plain suite.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "package_test: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "package_test: skipped: needs root (dpkg -i)"; exit 0; }
for p in banger banger-dev; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    fail "$p is already installed here; remove it first (this test installs and purges it)"
  fi
done

mapfile -t debs < <(tools/dev/package.sh | grep '\.deb$')
[ "${#debs[@]}" -eq 2 ] || fail "expected two packages, got: ${debs[*]}"
echo "package_test: dpkg -i ${debs[*]##*/}"
dpkg -i "${debs[@]}"
trap 'dpkg --purge banger-dev banger >/dev/null 2>&1 || true' EXIT

installed=$(dpkg -L banger banger-dev)
for f in /usr/sbin/bangerd /usr/bin/bangerctl /usr/libexec/banger/banger-vmm-log \
  /usr/libexec/banger/banger-guest-agent /etc/banger/bangerd.conf \
  /usr/lib/systemd/system/bangerd.service /usr/share/man/man8/bangerd.8 \
  /usr/share/man/man8/bangerctl.8 /usr/share/man/man5/bangerd.conf.5 \
  /usr/share/bash-completion/completions/bangerctl /usr/include/banger/capability.h; do
  [ -e "$f" ] || fail "$f is not installed"
done
plugin_dir=$(sed -n 's/^plugin_dirs = //p' /etc/banger/bangerd.conf)
for cap in tap nat portfwd stats vsock-health stale-reaper; do
  [ -f "$plugin_dir/$cap.so" ] || fail "$plugin_dir/$cap.so is not installed"
done
grep -qx /etc/banger/bangerd.conf /var/lib/dpkg/info/banger.conffiles || fail "the config is not a conffile"

/usr/sbin/bangerd --version | grep -q '^bangerd ' || fail "bangerd --version"
out=$(/usr/bin/bangerctl caps --offline --config /etc/banger/bangerd.conf) || fail "caps --offline: $out"
for cap in tap nat portfwd stats vsock-health stale-reaper; do
  grep -q "^$cap " <<<"$out" || fail "caps --offline does not list $cap: $out"
done
/usr/sbin/bangerd --config /etc/banger/bangerd.conf --check-config >/dev/null ||
  fail "bangerd --check-config on the installed config"
verify=$(systemd-analyze verify /usr/lib/systemd/system/bangerd.service 2>&1) ||
  fail "systemd-analyze verify: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify says: $verify"
grep -q '^ExecStart=/usr/sbin/bangerd --config /etc/banger/bangerd.conf$' \
  /usr/lib/systemd/system/bangerd.service || fail "the unit's ExecStart"
man -w bangerd.conf >/dev/null 2>&1 || fail "man bangerd.conf finds no page"
abi="$(sed -n 's/^#define BANGER_ABI_MAJOR //p' sdk/include/banger/capability.h).$(sed -n \
  's/^#define BANGER_ABI_MINOR //p' sdk/include/banger/capability.h)"
[ "$(pkg-config --modversion banger-sdk)" = "$abi" ] || fail "pkg-config banger-sdk is not $abi"

# The state purge must take: what a running agent would have made.
mkdir -p /var/lib/banger/vms /run/banger
echo "package_test: dpkg --purge banger-dev banger"
dpkg --purge banger-dev banger
trap - EXIT
for f in $installed; do
  [ -d "$f" ] && continue  # shared directories (/usr/share/man/man8) stay
  [ ! -e "$f" ] || fail "$f is left after the purge"
done
for d in /etc/banger /var/lib/banger /run/banger /usr/libexec/banger /usr/include/banger "$plugin_dir"; do
  [ ! -e "$d" ] || fail "$d is left after the purge"
done
echo "package_test: ok (${debs[*]##*/} installed, checked and purged)"
