#!/usr/bin/env bash
# The SDK as an outside author gets it: installs only the "sdk" component of
# a build tree into a scratch prefix (and checks that nothing else came),
# builds the C++ example with CMake and the C example with pkg-config
# against it, runs the C++ one's unit tests against the SDK's fake host
# (banger/testing.hpp), checks their exports, installs the C++ one with
# `cmake --install` (banger_add_capability's rule), loads both offline, then
# starts a real agent with them and calls their verbs.
# usage: sdk_example_test.sh BUILD_DIR EXAMPLES_DIR BANGERCTL BANGERD FC_SIM
set -euo pipefail
build=$1 examples=$2 bangerctl=$3 bangerd=$4 fcsim=$5
tmp=$(mktemp -d /tmp/banger-sdk-XXXXXX)
agent=""
cleanup() {
  if [ -n "$agent" ]; then
    kill -9 "$agent" 2> /dev/null || true
    wait "$agent" 2> /dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

cmake --install "$build" --component sdk --prefix "$tmp/prefix" > "$tmp/install.log"
[ -f "$tmp/prefix/include/banger/capability.h" ] || fail "no capability.h installed"
[ -f "$tmp/prefix/include/banger/capability.hpp" ] || fail "no capability.hpp installed"
pc=$(find "$tmp/prefix" -name banger-sdk.pc)
[ -n "$pc" ] || fail "no banger-sdk.pc installed"
others=$(find "$tmp/prefix" -type f \( -name bangerd -o -name bangerctl -o -name 'tap.so' -o -name bangerd.conf \))
[ -z "$others" ] || fail "--component sdk installed more than the SDK: $others"

# C++, with CMake (its own plugin dir, not the system's).
cmake -S "$examples/hello" -B "$tmp/build" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DBANGER_PLUGIN_INSTALL_DIR="$tmp/plugins" -DBUILD_TESTING=ON > "$tmp/configure.log"
cmake --build "$tmp/build" > "$tmp/build.log" || { cat "$tmp/build.log"; fail "the example did not build"; }
# Its unit tests, against the installed SDK's fake host.
(cd "$tmp/build" && ctest --output-on-failure > "$tmp/unit.log") || { cat "$tmp/unit.log"; fail "hello's unit tests"; }
cmake --install "$tmp/build" > "$tmp/install-hello.log"
[ -f "$tmp/plugins/hello.so" ] || fail "cmake --install did not put hello.so in the plugin dir"

# C, with pkg-config.
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
[ "$(pkg-config --modversion banger-sdk)" = "$(grep -o 'BANGER_ABI_MAJOR [0-9]*' "$tmp/prefix/include/banger/capability.h" | cut -d' ' -f2).$(grep -o 'BANGER_ABI_MINOR [0-9]*' "$tmp/prefix/include/banger/capability.h" | cut -d' ' -f2)" ] \
  || fail "the SDK's version is not the ABI's"
# shellcheck disable=SC2046
cc -std=c99 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden $(pkg-config --cflags banger-sdk) \
  "$examples/hello-c/hello.c" -o "$tmp/plugins/hello-c.so" \
  $(pkg-config --variable=capability_ldflags banger-sdk)

for so in "$tmp/plugins/hello.so" "$tmp/plugins/hello-c.so"; do
  exported=$(nm -D --defined-only "$so" | awk '{print $NF}')
  [ "$exported" = "banger_capability_entry" ] || fail "$so exports: $exported"
  chmod 0755 "$so"
done

cat > "$tmp/bangerd.conf" <<CONF
[core]
state_dir = $tmp/state
socket = $tmp/b.sock
plugin_dirs = $tmp/plugins
vmm_binary = $fcsim
[plugins]
enable = hello, hello-c
[hello]
greeting = hi "there"
[hello-c]
greeting = hej
CONF
out=$("$bangerctl" caps --config "$tmp/bangerd.conf" --offline --json)
for name in hello hello-c; do
  echo "$out" | grep -q "\"name\": \"$name\"" || fail "$name not listed: $out"
done
echo "$out" | grep -q '"status": "error' && fail "not loadable: $out"

"$bangerd" --config "$tmp/bangerd.conf" > "$tmp/agent.log" 2>&1 &
agent=$!
for _ in $(seq 100); do
  [ -S "$tmp/b.sock" ] && "$bangerctl" --socket "$tmp/b.sock" caps > /dev/null 2>&1 && break
  sleep 0.1
done
printf 'k' > "$tmp/vmlinux"
head -c 4096 /dev/zero > "$tmp/rootfs"
"$bangerctl" --socket "$tmp/b.sock" vm create web --kernel "$tmp/vmlinux" --rootfs "$tmp/rootfs" > /dev/null \
  || fail "create: $(cat "$tmp/agent.log")"
reply=$("$bangerctl" --socket "$tmp/b.sock" vm hello web)
echo "$reply" | grep -q '"greeting": "hi \\"there\\", web"' || fail "hello answered: $reply"
reply=$("$bangerctl" --socket "$tmp/b.sock" vm hello-c web)
echo "$reply" | grep -q '"greeting": "hej"' || fail "hello-c answered: $reply"
echo "ok: the SDK installs alone; both examples build (CMake, pkg-config), pass their unit tests, install, load, and answer"
