#!/usr/bin/env bash
# Installs the SDK from a build tree into a scratch prefix, builds the
# out-of-tree example against it, checks its exports and loads it offline.
# usage: sdk_example_test.sh BUILD_DIR EXAMPLE_DIR BANGERCTL
set -euo pipefail
build=$1 example=$2 bangerctl=$3
tmp=$(mktemp -d /tmp/banger-sdk-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
cmake -S "$example" -B "$tmp/build" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" > "$tmp/configure.log"
cmake --build "$tmp/build" > "$tmp/build.log"

so="$tmp/build/hello.so"
[ -f "$so" ] || { echo "FAIL: $so was not built"; exit 1; }
exported=$(nm -D --defined-only "$so" | awk '{print $NF}')
[ "$exported" = "banger_capability_entry" ] || { echo "FAIL: exports: $exported"; exit 1; }

mkdir -p "$tmp/plugins"
install -m 0755 "$so" "$tmp/plugins/hello.so"
cat > "$tmp/bangerd.conf" <<CONF
[core]
plugin_dirs = $tmp/plugins
[plugins]
enable = hello
[hello]
greeting = hi
CONF
out=$("$bangerctl" caps hello --config "$tmp/bangerd.conf" --offline --json)
echo "$out" | grep -q '"status": "loaded"' || { echo "FAIL: not loadable:"; echo "$out"; exit 1; }
echo "$out" | grep -q '"version": "1.0.0"' || { echo "FAIL: wrong version:"; echo "$out"; exit 1; }
echo "ok: the example builds against the installed SDK and loads"
