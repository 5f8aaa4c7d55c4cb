#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs every test
# (unit, cross-component, root/namespace ones included when run as root),
# then the benchmark gate (tools/dev/bench-check.sh, root: ratios measured
# in one run against their floors, ~30 s), the Debian packages built,
# installed, checked and purged (tests/package_test.sh, root), then the
# sanitizer runs and the fuzzers for a bounded time:
#   the suite under ASan+UBSan   (tools/dev/sanitize.sh asan, build-asan/)
#   the fuzzers, 20 s each        (tools/dev/fuzz.sh, the same build)
#   the concurrency tests, TSan   (tools/dev/sanitize.sh tsan, build-tsan/)
# BANGER_QUICK=1 runs the plain suite only (a quick check while working).
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/dev/install-deps.sh
tools/dev/build.sh
(cd build && ctest --output-on-failure -j "${BANGER_JOBS:-2}" --timeout 600)
[ -z "${BANGER_QUICK:-}" ] || exit 0
tools/dev/bench-check.sh
tests/package_test.sh
tools/dev/sanitize.sh asan
tools/dev/fuzz.sh 20
tools/dev/sanitize.sh tsan
