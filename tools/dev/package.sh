#!/usr/bin/env bash
# Builds the Debian packages into ./build-deb: a build of its own for a /usr
# prefix (the paths bangerd, the unit and the config name are fixed at
# configure time), without tests, benchmarks or fault points, then cpack.
# Prints the .deb files it made.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/dev/install-deps.sh
if [ ! -f build-deb/build.ninja ]; then
  cmake -S . -B build-deb -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
    -DBANGER_BUILD_TESTS=OFF -DBANGER_BUILD_BENCH=OFF -DBANGER_FAULT_POINTS=OFF > /dev/null
fi
cmake --build build-deb -j "${BANGER_JOBS:-2}"
rm -f build-deb/*.deb
(cd build-deb && cpack -G DEB > cpack.log 2>&1) || { cat build-deb/cpack.log >&2; exit 1; }
ls "$PWD"/build-deb/*.deb
