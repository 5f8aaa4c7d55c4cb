#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs every test
# (unit, cross-component, root/namespace ones included when run as root),
# then the fuzzers for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/dev/install-deps.sh
tools/dev/build.sh
(cd build && ctest --output-on-failure -j "${BANGER_JOBS:-2}" --timeout 600)
# The fuzzers, 20 s each under ASan+UBSan (tools/dev/fuzz.sh SECONDS for longer).
tools/dev/fuzz.sh 20
