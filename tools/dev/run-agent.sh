#!/usr/bin/env bash
# The dev profile: installs what is missing, builds, and runs bangerd in the
# foreground with the documented default config, state under ./var and the
# control socket at ./var/run/bangerd.sock, loading the capabilities just
# built. The VMM is fc-sim (no KVM needed), and the agent runs inside a
# network namespace of its own (banger-dev), so trying it never touches this
# host's network. Ctrl-C stops it cleanly. Extra arguments go to bangerd.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/dev/install-deps.sh
tools/dev/build.sh

if [ "$(id -u)" -ne 0 ]; then
  echo "run-agent: run as root (it creates the network namespace banger-dev)" >&2
  exit 1
fi
netns=banger-dev
if ! ip netns list | grep -qw "$netns"; then
  ip netns add "$netns"
  ip netns exec "$netns" ip link set lo up
  # An uplink for nat, both ends inside the namespace: the rules are real,
  # the host's own network is not touched (and guests reach nothing beyond).
  ip netns exec "$netns" ip link add dev-up0 type veth peer name dev-up0p
  ip netns exec "$netns" ip addr add 192.0.2.1/24 dev dev-up0
  ip netns exec "$netns" ip link set dev-up0 up
  ip netns exec "$netns" ip link set dev-up0p up
  ip netns exec "$netns" ip route add default via 192.0.2.254 dev dev-up0
fi

# Demo images: fc-sim opens them but boots nothing, so any files will do.
mkdir -p var/run var/images
[ -f var/images/vmlinux ] || echo "placeholder kernel for fc-sim" > var/images/vmlinux
[ -f var/images/rootfs.ext4 ] || truncate -s 256M var/images/rootfs.ext4

ctl="build/tools/bangerctl/bangerctl --socket var/run/bangerd.sock"
cat <<EOT
bangerd: state in ./var, socket ./var/run/bangerd.sock, VMM fc-sim, network namespace $netns
try, in another shell:
  $ctl caps
  $ctl vm create demo --kernel var/images/vmlinux --rootfs var/images/rootfs.ext4 --work-disk 1G
  $ctl vm start demo
  $ctl vm ls
  $ctl vm stop demo
EOT
status=0
ip netns exec "$netns" build/core/agent/bangerd --config config/bangerd.conf --state-dir var \
  --socket var/run/bangerd.sock --plugin-dir build/plugins \
  --vmm-binary build/tests/fc-sim/fc-sim "$@" || status=$?
exit $status
