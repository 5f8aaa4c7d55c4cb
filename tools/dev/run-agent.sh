#!/usr/bin/env bash
# The dev profile: installs what is missing, builds, and runs bangerd in the
# foreground with the documented default config, state under ./var and the
# control socket at ./var/run/bangerd.sock, loading the capabilities just
# built. Ctrl-C stops it cleanly. Extra arguments go to bangerd.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/dev/install-deps.sh
tools/dev/build.sh
mkdir -p var/run
echo "bangerd: state in ./var, socket ./var/run/bangerd.sock"
echo "try:     build/tools/bangerctl/bangerctl --socket var/run/bangerd.sock caps"
exec build/core/bangerd --config config/bangerd.conf --state-dir var \
  --socket var/run/bangerd.sock --plugin-dir build/plugins "$@"
