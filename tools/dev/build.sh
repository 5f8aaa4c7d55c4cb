#!/usr/bin/env bash
# Configures (once) and builds banger into ./build with Ninja, 2 jobs.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
fi
cmake --build build -j "${BANGER_JOBS:-2}"
