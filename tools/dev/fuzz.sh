#!/usr/bin/env bash
# The fuzzers (fuzz/): built with clang-14, libFuzzer, ASan and UBSan in
# build-fuzz/, each run over its seed corpus (fuzz/corpus/<target>) for
# SECONDS (default 20). A crash, a sanitizer report, a leak or a failed
# check (__builtin_trap) fails the run and leaves the input in build-fuzz/.
#   tools/dev/fuzz.sh            every target, 20 s each (what CI runs)
#   tools/dev/fuzz.sh 600 vm_record_fuzz    one target, longer
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-20}"
shift || true
tools/dev/install-deps.sh  # clang-14 and its sanitizer runtimes among them
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DBANGER_FUZZ=ON -DBANGER_BUILD_TESTS=OFF -DBANGER_BUILD_BENCH=OFF \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" > /dev/null
fi
cmake --build build-fuzz -j "${BANGER_JOBS:-2}" --target fuzzers
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(vm_record_fuzz agent_config_fuzz create_request_fuzz
                                     control_server_fuzz metrics_line_fuzz vsock_reply_fuzz)
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
for t in "${targets[@]}"; do
  work="build-fuzz/corpus/$t"
  mkdir -p "$work"
  echo "fuzz: $t for ${seconds}s"
  (cd build-fuzz && "./fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
     -print_final_stats=1 "corpus/$t" "../fuzz/corpus/$t" 2>&1 | tail -12)
done
